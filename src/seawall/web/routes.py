"""The route template of a request (`/v1/payments/{payment_id}`), for access-log lines and HTTP metrics:
a bounded set of values, never the raw path (which holds ids).

`route_template(scope)` is read by middleware *after* the app has answered (the router fills the scope
it is handed, the same dict every pure ASGI middleware passes on):
- a FastAPI route: `scope["route"].path_format`, set by the router (a partial match too, e.g. 405);
- another Starlette route (`/docs`, `/openapi.json`): the route whose endpoint is `scope["endpoint"]`;
- a request middleware answered before routing (413, 429, an input-guard 4xx, 503): the route the
  router would have picked, found by matching it now (a scan of the routes; such answers are rare);
- anything else (a 404 from the router, a CORS preflight): `UNMATCHED`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from starlette.routing import Match
from starlette.types import Scope

UNMATCHED = "unmatched"


def route_template(scope: Scope) -> str:
    """The path template of the route that answered (or would have answered) the request in `scope`,
    else `UNMATCHED` (see the module docstring)."""
    route = scope.get("route")
    if route is not None:
        template = getattr(route, "path_format", None)
        return template if isinstance(template, str) else UNMATCHED
    router = scope.get("router")
    if router is not None:  # routed: a non-FastAPI route, or no route at all
        endpoint = scope.get("endpoint")
        return _template_of_endpoint(router, endpoint) if endpoint is not None else UNMATCHED
    app = scope.get("app")
    return _template_by_matching(getattr(app, "router", None), scope)


@lru_cache(maxsize=64)
def _template_of_endpoint(router: Any, endpoint: Any) -> str:
    for route in getattr(router, "routes", ()):
        if getattr(route, "endpoint", None) is endpoint and isinstance(getattr(route, "path_format", None), str):
            return str(route.path_format)
    return UNMATCHED


def _template_by_matching(router: Any, scope: Scope) -> str:
    partial: str | None = None
    for route in getattr(router, "routes", ()):
        match, _ = route.matches(scope)
        template = getattr(route, "path_format", None)
        if match is Match.FULL and isinstance(template, str):
            return template
        if match is Match.PARTIAL and partial is None and isinstance(template, str):
            partial = template
    return partial or UNMATCHED
