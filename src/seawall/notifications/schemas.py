"""Wire shapes of the notifications API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from seawall.kit.wire import StrictModel

ChannelName = Literal["email", "sms", "webhook", "console"]


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    event_type: str
    channel: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class NotificationPageOut(BaseModel):
    data: list[NotificationOut]
    next_cursor: str | None


class PreferencesIn(StrictModel):
    channels: Annotated[list[ChannelName], Field(min_length=1, max_length=4)]
    phone_number: Annotated[str | None, Field(pattern=r"^\+[1-9][0-9]{6,14}$")] = None


class PreferencesOut(BaseModel):
    channels: list[str]
    phone_number: str | None
