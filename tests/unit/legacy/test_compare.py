"""What "the same answer" means for a shadowed route (`legacy.compare`): statuses, RFC 6902 diffs of JSON
bodies with ignored fields (names anywhere, JSON Pointers with `*`), bytes for the rest."""

from __future__ import annotations

import orjson
import pytest

from seawall.legacy.compare import Result, compare, compare_bodies, strip_ignored
from seawall.legacy.store import bounded_patch

DOC = {"id": "u1", "user": {"id": "u2", "email": "a@x", "created_at": "t1"},
       "items": [{"id": 1, "sku": "a"}, {"id": 2, "sku": "b"}], "a/b": {"~c": 1}}


def body(document: object) -> bytes:
    return orjson.dumps(document)


def test_equal_json_agrees_whatever_the_key_order_or_spacing() -> None:
    assert compare_bodies(b'{"a": 1, "b": [1, 2]}', b'{"b":[1,2],"a":1}').result == Result.AGREED


def test_a_different_field_is_a_patch_from_legacy_to_seawall() -> None:
    comparison = compare_bodies(body({"a": 1, "b": 2}), body({"a": 1, "b": 3, "c": 4}))
    assert comparison.result == Result.BODY_DIFFERS
    assert sorted(comparison.patch or [], key=lambda op: op["path"]) == [
        {"op": "replace", "path": "/b", "value": 3}, {"op": "add", "path": "/c", "value": 4}]


@pytest.mark.parametrize(("ignore", "expected"), [
    (("id",), {"user": {"email": "a@x", "created_at": "t1"}, "items": [{"sku": "a"}, {"sku": "b"}],
               "a/b": {"~c": 1}}),
    (("/user/id",), {**DOC, "user": {"email": "a@x", "created_at": "t1"}}),
    (("/items/*/id",), {**DOC, "items": [{"sku": "a"}, {"sku": "b"}]}),
    (("/*/created_at",), {**DOC, "user": {"id": "u2", "email": "a@x"}}),
    (("/items/1",), {**DOC, "items": [{"id": 1, "sku": "a"}]}),
    (("/a~1b/~0c",), {**DOC, "a/b": {}}),  # RFC 6901 escapes
    (("/nothing/here", "/items/9", "absent"), DOC),  # naming nothing is no error
])
def test_ignored_fields_by_name_or_pointer(ignore: tuple[str, ...], expected: object) -> None:
    original = orjson.loads(orjson.dumps(DOC))
    assert strip_ignored(DOC, ignore) == expected
    assert original == DOC  # the input is left as is


def test_ignored_fields_leave_the_comparison_agreed() -> None:
    legacy = body({"user": {"id": "usr_legacy", "created_at": "2026-01-01", "email": "a@x"}})
    seawall = body({"user": {"id": "usr_seawall", "created_at": "2026-01-02", "email": "a@x"}})
    assert compare_bodies(legacy, seawall).result == Result.BODY_DIFFERS
    assert compare_bodies(legacy, seawall, ignore=("id", "/user/created_at")).result == Result.AGREED


def test_a_different_status_is_reported_first_with_the_body_patch() -> None:
    comparison = compare(legacy_status=201, legacy_body=body({"a": 1}), seawall_status=409,
                         seawall_body=body({"a": 2}))
    assert comparison.result == Result.STATUS_DIFFERS
    assert comparison.patch == [{"op": "replace", "path": "/a", "value": 2}]
    assert comparison.note == "status 201 (legacy) != 409 (seawall)"


def test_non_json_bodies_compare_as_bytes() -> None:
    assert compare_bodies(b"<html>ok</html>", b"<html>ok</html>").result == Result.AGREED
    differs = compare_bodies(b"<html>ok</html>", b'{"a": 1}')
    assert (differs.result, differs.patch, differs.note) == (Result.BODY_DIFFERS, None, "bodies differ (not JSON)")
    assert compare_bodies(b"", b"").result == Result.AGREED


def test_a_body_not_captured_is_not_compared() -> None:
    assert compare_bodies(None, b"{}").result == Result.NOT_COMPARED
    assert compare_bodies(b"{}", None).result == Result.NOT_COMPARED


def test_a_patch_is_cut_to_its_bound() -> None:
    patch = [{"op": "add", "path": f"/k{index}", "value": "x" * 100} for index in range(100)]
    kept, cut = bounded_patch(patch, max_bytes=1000)
    assert cut and 0 < len(kept) < 10 and len(orjson.dumps(kept)) <= 1000
    assert bounded_patch(patch[:2], max_bytes=1000) == (patch[:2], False)
    assert bounded_patch(None) == (None, False)


def test_a_head_is_never_agreed_on_bodies_it_does_not_have() -> None:
    same = compare(legacy_status=200, legacy_body=b"", seawall_status=200, seawall_body=b"", method="HEAD")
    assert same.result is Result.NOT_COMPARED and same.note is not None and "HEAD" in same.note
    other = compare(legacy_status=200, legacy_body=b"", seawall_status=401, seawall_body=b"", method="HEAD")
    assert other.result is Result.STATUS_DIFFERS
