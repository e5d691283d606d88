"""Notifications routes: the owner's notification log and channel preferences."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from seawall.accounts.auth import CurrentPrincipal
from seawall.accounts.reads import UserReadSessionDep
from seawall.notifications import service
from seawall.notifications.schemas import (
    NotificationOut,
    NotificationPageOut,
    PreferencesIn,
    PreferencesOut,
)
from seawall.web.deps import ClockDep, SessionDep
from seawall.web.errors import error_responses

router = APIRouter(prefix="/v1", tags=["notifications"])


@router.get("/notifications", responses=error_responses(400, 401, 422, 429, 503))
async def list_notifications(
    principal: CurrentPrincipal,
    session: UserReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> NotificationPageOut:
    rows, next_cursor = await service.list_notifications(session, user_id=principal.user.id, limit=limit,
                                                         cursor=cursor)
    return NotificationPageOut(data=[NotificationOut.model_validate(n) for n in rows], next_cursor=next_cursor)


@router.get("/me/notification-preferences", responses=error_responses(401, 429, 503))
async def get_preferences(principal: CurrentPrincipal, session: UserReadSessionDep) -> PreferencesOut:
    preference = await service.preferences(session, user_id=principal.user.id)
    if preference is None:
        return PreferencesOut(channels=list(service.DEFAULT_CHANNELS), phone_number=None)
    return PreferencesOut(channels=list(preference.channels), phone_number=preference.phone_number)


@router.put("/me/notification-preferences", responses=error_responses(401, 413, 422, 429, 503))
async def put_preferences(body: PreferencesIn, principal: CurrentPrincipal, clock: ClockDep,
                          session: SessionDep) -> PreferencesOut:
    """Replace the channels used for this user's notifications (idempotent by nature: a PUT)."""
    preference = await service.set_preferences(session, clock=clock, user_id=principal.user.id,
                                               channels=sorted(set(body.channels)), phone_number=body.phone_number)
    return PreferencesOut(channels=list(preference.channels), phone_number=preference.phone_number)
