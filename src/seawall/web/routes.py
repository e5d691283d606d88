"""The route template of a request (`/v1/payments/{payment_id}`, never the raw path), for labels and logs.

`route_template(scope)` reads the route Starlette's router put in the scope (`scope["route"]`, set once
the request was routed; middleware outside the router sees it after the app returned), or None when the
request reached no route: refused before routing (429, 413, ...) or matching none (404).
"""

from __future__ import annotations

from starlette.types import Scope


def route_template(scope: Scope) -> str | None:
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else None
