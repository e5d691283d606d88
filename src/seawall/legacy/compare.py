"""What "the same answer" means for a shadowed route: the statuses equal, and the bodies equal once the
route's ignored fields are left out.

Ignored fields (`Route.ignore`, plus the table's `[shadow] ignore`), two forms:
- a bare name (`id`, `created_at`): that key is removed from every object anywhere in the document;
- a JSON Pointer (RFC 6901, starts with `/`) where a segment `*` stands for any array index or object key:
  `/user/id`, `/items/*/id`, `/*/created_at`. A pointer that names nothing in a document is no error.

Bodies: both JSON (parsed with the standard library's rules) → an RFC 6902 JSON Patch from legacy's
body to Seawall's (`jsonpatch.make_patch`); an empty patch is agreement. Otherwise equal bytes agree and
different ones are "bodies differ" (no patch). A body not captured (None: over
`SEAWALL_LEGACY_SHADOW_MAX_BODY_BYTES`) is "not compared". Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import jsonpatch
import orjson


class Result(StrEnum):
    AGREED = "agreed"
    STATUS_DIFFERS = "status_differs"
    BODY_DIFFERS = "body_differs"
    NOT_COMPARED = "not_compared"  # a body too large to capture, or a HEAD with the same status
    SEAWALL_ERROR = "seawall_error"  # the shadow run raised or timed out
    DROPPED = "dropped"  # over SEAWALL_LEGACY_SHADOW_MAX_CONCURRENT: never run


@dataclass(frozen=True)
class Comparison:
    result: Result
    patch: list[dict[str, Any]] | None = None  # RFC 6902 operations, legacy → Seawall (JSON bodies only)
    note: str | None = None  # e.g. "bodies differ (not JSON)", "legacy body not captured"


def compare(*, legacy_status: int, legacy_body: bytes | None, seawall_status: int, seawall_body: bytes | None,
            ignore: tuple[str, ...] = (), method: str = "GET") -> Comparison:
    """Status first (a different status is `status_differs`, with the body patch when both are JSON),
    then the bodies as the module docstring says. A `HEAD` has no bodies (RFC 9110 §9.3.2): the same
    status is `not_compared`, never `agreed` (an agreement rate counts only what was compared)."""
    if method == "HEAD":
        if legacy_status != seawall_status:
            return Comparison(Result.STATUS_DIFFERS,
                              note=f"status {legacy_status} (legacy) != {seawall_status} (seawall)")
        return Comparison(Result.NOT_COMPARED, note="HEAD: same status, no bodies to compare")
    body = compare_bodies(legacy_body, seawall_body, ignore=ignore)
    if legacy_status != seawall_status:
        note = f"status {legacy_status} (legacy) != {seawall_status} (seawall)"
        return Comparison(Result.STATUS_DIFFERS, patch=body.patch, note=note)
    return body


def compare_bodies(legacy: bytes | None, seawall: bytes | None, *, ignore: tuple[str, ...] = ()) -> Comparison:
    if legacy is None or seawall is None:
        side = "legacy" if legacy is None else "seawall"
        return Comparison(Result.NOT_COMPARED, note=f"{side} body not captured (over the shadow body bound)")
    legacy_doc, seawall_doc = _json(legacy), _json(seawall)
    if legacy_doc is _NOT_JSON or seawall_doc is _NOT_JSON:
        if legacy == seawall:
            return Comparison(Result.AGREED)
        return Comparison(Result.BODY_DIFFERS, note="bodies differ (not JSON)")
    patch = jsonpatch.make_patch(strip_ignored(legacy_doc, ignore), strip_ignored(seawall_doc, ignore))
    operations: list[dict[str, Any]] = list(patch.patch)
    if not operations:
        return Comparison(Result.AGREED)
    return Comparison(Result.BODY_DIFFERS, patch=operations)


_NOT_JSON = object()


def _json(body: bytes) -> Any:
    if not body:
        return _NOT_JSON
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return _NOT_JSON


def strip_ignored(document: Any, ignore: tuple[str, ...]) -> Any:
    """A copy of `document` without the ignored fields (module docstring); the input is left as is."""
    names = {entry for entry in ignore if not entry.startswith("/")}
    pointers = [_segments(entry) for entry in ignore if entry.startswith("/")]
    result = _without_names(document, names) if names else _copy(document)
    for segments in pointers:
        if segments:
            _remove_pointer(result, segments)
    return result


def _segments(pointer: str) -> list[str]:
    # RFC 6901 §4: "~1" is "/", "~0" is "~" (in that order).
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer.split("/")[1:]]


def _copy(document: Any) -> Any:
    if isinstance(document, dict):
        return {key: _copy(value) for key, value in document.items()}
    if isinstance(document, list):
        return [_copy(value) for value in document]
    return document


def _without_names(document: Any, names: set[str]) -> Any:
    if isinstance(document, dict):
        return {key: _without_names(value, names) for key, value in document.items() if key not in names}
    if isinstance(document, list):
        return [_without_names(value, names) for value in document]
    return document


def _remove_pointer(node: Any, segments: list[str]) -> None:
    head, rest = segments[0], segments[1:]
    if isinstance(node, dict):
        keys = list(node) if head == "*" else [head] if head in node else []
        for key in keys:
            if rest:
                _remove_pointer(node[key], rest)
            else:
                del node[key]
    elif isinstance(node, list):
        if head == "*":
            indexes = list(range(len(node)))
        elif head.isdigit() and int(head) < len(node):
            indexes = [int(head)]
        else:
            indexes = []
        for index in reversed(indexes):
            if rest:
                _remove_pointer(node[index], rest)
            else:
                del node[index]
