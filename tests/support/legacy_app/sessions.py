"""The legacy log-in and session introspection, and a route that checks the signed `Seawall-User`
header (filled by the auth-bridging tests)."""

from __future__ import annotations

from starlette.routing import Route

ROUTES: list[Route] = []
