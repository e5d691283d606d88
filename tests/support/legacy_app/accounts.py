"""The legacy versions of routes the shadow tests compare with Seawall's (filled by the shadow tests)."""

from __future__ import annotations

from starlette.routing import Route

ROUTES: list[Route] = []
