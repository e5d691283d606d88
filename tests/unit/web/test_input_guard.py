"""The input guard's checks (`web.input_guard`): depth, strict JSON and NUL, with the place named."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from seawall.web.input_guard import MAX_JSON_DEPTH, RefusedInput, check_json, check_text


def nested(levels: int) -> Any:
    """`levels` arrays one inside the other, around a 1."""
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


def test_the_deepest_allowed_body_passes_and_one_more_level_is_refused() -> None:
    check_json(orjson.dumps(nested(MAX_JSON_DEPTH)))
    with pytest.raises(RefusedInput) as refused:
        check_json(orjson.dumps(nested(MAX_JSON_DEPTH + 1)))
    assert refused.value.error_type == "json_too_deep"


def test_thousands_of_levels_are_refused_as_too_deep_without_recursing() -> None:
    with pytest.raises(RefusedInput) as refused:
        check_json(b"[" * 100_000 + b"]" * 100_000)
    assert refused.value.error_type == "json_too_deep"


def test_brackets_inside_strings_are_text_not_depth() -> None:
    check_json(orjson.dumps({"description": "[" * 1000 + "{" * 1000}))


@pytest.mark.parametrize(("body", "loc"), [
    (b'{"a": "x\\u0000"}', ["body", "a"]),
    (b'{"a": [{"b": "\\u0000"}]}', ["body", "a", 0, "b"]),
    (b'{"\\u0000": 1}', ["body"]),
])
def test_a_nul_is_refused_where_it_is(body: bytes, loc: list[Any]) -> None:
    with pytest.raises(RefusedInput) as refused:
        check_json(body)
    assert (refused.value.error_type, refused.value.loc) == ("nul_character", loc)


@pytest.mark.parametrize("body", [b'"\\ud800"', b'"\\udc00x"', b'"\xff"', b"{", b"NaN", b"1e999"])
def test_json_that_is_not_strict_is_refused(body: bytes) -> None:
    with pytest.raises(RefusedInput) as refused:
        check_json(body)
    assert refused.value.error_type == "json_invalid"


def test_an_escaped_backslash_then_u0000_is_text() -> None:
    check_json(b'{"path": "C:\\\\u0000"}')


@pytest.mark.parametrize(("path", "query"), [("/v1/a\x00b", b""), ("/v1/p", b"cursor=%00"), ("/v1/p", b"a=b\x00")])
def test_a_nul_in_the_path_or_query_is_refused(path: str, query: bytes) -> None:
    with pytest.raises(RefusedInput):
        check_text({"path": path, "query_string": query})


def test_a_percent_sign_that_is_not_a_nul_passes() -> None:
    check_text({"path": "/v1/p", "query_string": b"q=100%25&r=%0A"})
