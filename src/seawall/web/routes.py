"""The route template of a request (`/v1/payments/{payment_id}`), for access-log lines and HTTP metrics:
a bounded set of values, never the raw path (which holds ids).

`route_template(scope)` is read by middleware *after* the app has answered (the router fills in the
scope it is handed, the same dict every pure ASGI middleware passes on):
- a FastAPI route: `scope["route"].path_format`, set by the router (a partial match too: a 405);
- another route (`/docs`, `/openapi.json`): the template of the route whose endpoint answered;
- a request that middleware answered before routing (413, 429, an input-guard 4xx, a 503): the
  template of the route the router would have picked (same method and path; else same path);
- anything else (the router's 404, a CORS preflight): `UNMATCHED`.

The last two read a table of the app's routes, built on first use and kept on `app.state`; only
the first case (nearly every request) runs on the hot path, and costs two dict lookups.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from fastapi.routing import iter_route_contexts
from starlette.types import Scope

UNMATCHED = "unmatched"


def route_template(scope: Scope) -> str:
    """The path template of the route that answered (or would have answered) the request in `scope`,
    else `UNMATCHED` (see the module docstring)."""
    route = scope.get("route")
    if route is not None:
        template = getattr(route, "path_format", None)
        return template if isinstance(template, str) else UNMATCHED
    endpoint = scope.get("endpoint")
    if endpoint is None and "router" in scope:  # routed, and no route matched
        return UNMATCHED
    table = RouteTable.of(scope.get("app"))
    if table is None:
        return UNMATCHED
    if endpoint is not None:
        return table.by_endpoint.get(id(endpoint), UNMATCHED)
    return table.match(str(scope.get("method", "")), str(scope.get("path", "")))


@dataclass
class RouteTable:
    """The app's routes in the router's order: (path regex, methods, template); and templates by endpoint."""

    routes: list[tuple[re.Pattern[str], frozenset[str] | None, str]] = field(default_factory=list)
    by_endpoint: dict[int, str] = field(default_factory=dict)

    @classmethod
    def of(cls, app: Any) -> RouteTable | None:
        state = getattr(app, "state", None)
        router = getattr(app, "router", None)
        if state is None or router is None:
            return None
        table = getattr(state, "seawall_route_table", None)
        if table is None:
            table = cls()
            for context in iter_route_contexts(router.routes):
                template, regex = context.path_format, getattr(context, "path_regex", None)
                if not isinstance(template, str) or not isinstance(regex, re.Pattern):
                    continue
                methods = context.methods
                table.routes.append((regex, frozenset(methods) if methods else None, template))
                if context.endpoint is not None:
                    table.by_endpoint.setdefault(id(context.endpoint), template)
            state.seawall_route_table = table
        return table

    def match(self, method: str, path: str) -> str:
        """The template of the first route for `method` and `path`, else of the first for `path`."""
        partial: str | None = None
        for regex, methods, template in self.routes:
            if regex.match(path):
                if methods is None or method in methods:
                    return template
                partial = partial or template
        return partial or UNMATCHED
