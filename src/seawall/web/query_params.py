"""Unknown query parameters are refused, as unknown body fields are (`kit.wire.StrictModel`).

`GET /v1/payments?limt=10` answers 422 `validation_error` naming `["query", "limt"]` instead of quietly
ignoring the typo (and answering a default-sized page). Stripe's API does the same ("Received unknown
parameter"). Installed as an app-wide dependency, so it knows the matched route's declared parameters
(its own and its dependencies', by alias); routes outside FastAPI's (`/docs`, `/openapi.json`) are not
checked.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

_DECLARED: dict[int, frozenset[str]] = {}


def declared_query_names(route: APIRoute) -> frozenset[str]:
    """The query parameter names `route` reads (aliases as sent on the wire), computed once per route."""
    names = _DECLARED.get(id(route))
    if names is None:
        names = frozenset(_query_names(route.dependant))
        _DECLARED[id(route)] = names
    return names


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


async def refuse_unknown_query_params(request: Request) -> None:
    """Raise `RequestValidationError` (422) listing every query parameter the matched route does not read."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    declared = declared_query_names(route)
    unknown = [name for name in dict.fromkeys(request.query_params.keys()) if name not in declared]
    if unknown:
        raise RequestValidationError([
            {"loc": ("query", name), "msg": "is not a parameter of this operation", "type": "extra_forbidden"}
            for name in unknown])
