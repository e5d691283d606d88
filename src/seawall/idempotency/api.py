"""The `Idempotency-Key` dependency for creating routes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Request

from seawall.config import Settings
from seawall.db import Database
from seawall.idempotency import service
from seawall.kit.clock import Clock
from seawall.web.deps import ClockDep, DatabaseDep, SecretKeyDep, SettingsDep
from seawall.web.responses import JSONBody


class IdempotentRequest:
    def __init__(self, request: Request, key: str | None, *, database: Database, settings: Settings, clock: Clock,
                 secret_key: bytes) -> None:
        self.request = request
        self.key = key
        self.database = database
        self.settings = settings
        self.clock = clock
        self.secret_key = secret_key

    async def run(
        self, *, scope: str, body: Any, status_code: int, operation: service.Operation
    ) -> JSONBody:
        """Run `operation` once for this key (see `service.execute_once`) and shape the response."""
        key = service.validate_key(self.key, required=True)
        assert key is not None
        stored = await service.execute_once(
            database=self.database,
            settings=self.settings,
            clock=self.clock,
            scope=scope,
            key=key,
            request_fingerprint=service.fingerprint(
                method=self.request.method, path=self.request.url.path, body=body,
                secret_key=self.secret_key,
            ),
            status_code=status_code,
            operation=operation,
        )
        headers = {"Idempotent-Replayed": "true"} if stored.replayed else {}
        return JSONBody(stored.body, status_code=stored.status_code, headers=headers)


async def idempotent_request(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    clock: ClockDep,
    secret_key: SecretKeyDep,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", description="Unique per intended operation; at most 255 characters"),
    ] = None,
) -> IdempotentRequest:
    service.validate_key(idempotency_key, required=True)
    return IdempotentRequest(request, idempotency_key, database=database, settings=settings, clock=clock,
                             secret_key=secret_key)


IdempotencyDep = Annotated[IdempotentRequest, Depends(idempotent_request)]
