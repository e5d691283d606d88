"""The `Seawall-User` header: the documented worked example, rotation, the timestamp window, and a
header bound to its request (no replay on another method, target or request id)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from seawall.legacy.identity import (
    RESERVED_HEADERS,
    SeawallUserRefused,
    sign_seawall_user,
    verify_seawall_user,
)
from seawall.legacy.keys import SigningKey

DOCS = Path(__file__).resolve().parents[3] / "docs" / "legacy-bridge.md"
OLD = SigningKey("old", b"o" * 32)
NEW = SigningKey("new", b"n" * 40)
NOW = 1_796_068_800
REQUEST = {"method": "POST", "target": "/orders/42?expand=items", "request_id": "req_1"}


def header(key: SigningKey = NEW, *, timestamp: int = NOW, user_id: str = "usr_1", **request: str) -> dict[str, str]:
    value = sign_seawall_user(key, timestamp=timestamp, user_id=user_id, **{**REQUEST, **request})
    return {"Seawall-User": value}


def worked_example() -> dict[str, str]:
    block = re.search(r"\*\*Worked example\*\*.*?```text\n(.*?)```", DOCS.read_text(), re.S)
    assert block is not None, "docs/legacy-bridge.md lost its worked example"
    fields = {}
    for line in block.group(1).splitlines():
        name, _, value = line.partition(":")
        fields[name.strip()] = value.strip()
    return fields


def test_the_documented_worked_example_is_what_seawall_signs_and_verifies() -> None:
    example = worked_example()
    key = SigningKey(example["key id"], example["secret"].encode())
    value = sign_seawall_user(key, timestamp=int(example["timestamp"]), user_id=example["user id"],
                              method=example["method"], target=example["target"], request_id=example["request id"])
    assert value == example["Seawall-User"]
    assert verify_seawall_user({"seawall-user": value}, [key], now=int(example["timestamp"]) + 299,
                               method=example["method"], target=example["target"],
                               request_id=example["request id"]) == example["user id"]


def test_rotation_the_legacy_app_knowing_old_and_new_accepts_the_new_signature() -> None:
    assert verify_seawall_user(header(NEW), [OLD, NEW], now=NOW, **REQUEST) == "usr_1"
    assert verify_seawall_user(header(OLD), [OLD, NEW], now=NOW, **REQUEST) == "usr_1"  # mid-rollout
    assert verify_seawall_user(header(NEW), "old:" + "o" * 32 + ",new:" + "n" * 40, now=NOW, **REQUEST) == "usr_1"
    with pytest.raises(SeawallUserRefused, match="unknown key id 'new'"):
        verify_seawall_user(header(NEW), [OLD], now=NOW, **REQUEST)


def test_a_secret_that_differs_under_a_known_key_id_fails_the_signature() -> None:
    forged = SigningKey("new", b"x" * 40)
    with pytest.raises(SeawallUserRefused, match="signature"):
        verify_seawall_user(header(forged), [NEW], now=NOW, **REQUEST)


@pytest.mark.parametrize("skew", [-301, 301, -10_000])
def test_a_timestamp_outside_the_tolerance_is_refused(skew: int) -> None:
    with pytest.raises(SeawallUserRefused, match="window"):
        verify_seawall_user(header(timestamp=NOW + skew), [NEW], now=NOW, **REQUEST)
    verify_seawall_user(header(timestamp=NOW + skew), [NEW], now=NOW, tolerance_seconds=abs(skew), **REQUEST)


@pytest.mark.parametrize("other", [{"method": "DELETE"}, {"target": "/orders/43?expand=items"},
                                   {"target": "/orders/42"}, {"request_id": "req_2"}])
def test_a_header_signed_for_one_request_is_refused_on_another(other: dict[str, str]) -> None:
    with pytest.raises(SeawallUserRefused, match="signature"):
        verify_seawall_user(header(), [NEW], now=NOW, **{**REQUEST, **other})


def test_a_changed_user_id_is_refused() -> None:
    value = header()["Seawall-User"].replace("usr_1", "usr_2")
    with pytest.raises(SeawallUserRefused, match="signature"):
        verify_seawall_user({"Seawall-User": value}, [NEW], now=NOW, **REQUEST)


@pytest.mark.parametrize("value", ["", "usr_1", "v2,new,1796068800,usr_1,sig", "v1,new,soon,usr_1,sig",
                                   "v1,new,1796068800,,sig", "v1,new,1796068800,usr_1", "v1,new,-5,usr_1,sig",
                                   "v1,new,1796068800,usr_1,sig,extra", "v1,new,１２,usr_1,sig"])
def test_malformed_values_are_refused_not_crashed(value: str) -> None:
    with pytest.raises(SeawallUserRefused):
        verify_seawall_user({"Seawall-User": value}, [NEW], now=NOW, **REQUEST)


def test_missing_or_repeated_headers_are_refused_and_the_underscore_spelling_counts() -> None:
    with pytest.raises(SeawallUserRefused, match="no Seawall-User"):
        verify_seawall_user({"Authorization": "Bearer x"}, [NEW], now=NOW, **REQUEST)
    good = header()["Seawall-User"]
    with pytest.raises(SeawallUserRefused, match="more than one"):
        verify_seawall_user([("seawall-user", good), ("Seawall_User", "v1,new,1,usr_evil,x")], [NEW], now=NOW,
                            **REQUEST)
    assert {b"seawall-user", b"seawall_user"} <= RESERVED_HEADERS


def test_fields_the_format_cannot_carry_are_not_signed() -> None:
    with pytest.raises(ValueError):
        sign_seawall_user(NEW, timestamp=NOW, user_id="usr,1", **REQUEST)
    with pytest.raises(ValueError):
        sign_seawall_user(NEW, timestamp=NOW, user_id="usr_1", **{**REQUEST, "request_id": "a\nb"})


def test_the_keys_may_be_a_mapping_of_key_id_to_secret_str_or_bytes() -> None:
    assert verify_seawall_user(header(NEW), {"old": "o" * 32, "new": "n" * 40}, now=NOW, **REQUEST) == "usr_1"
    assert verify_seawall_user(header(OLD), {"old": b"o" * 32}, now=NOW, **REQUEST) == "usr_1"
    with pytest.raises(SeawallUserRefused, match="signature"):
        verify_seawall_user(header(NEW), {"new": "x" * 40}, now=NOW, **REQUEST)
    with pytest.raises(SeawallUserRefused, match="unknown key id"):
        verify_seawall_user(header(NEW), {"old": "o" * 32}, now=NOW, **REQUEST)


@pytest.mark.parametrize("keys, error", [
    ({"new": 42}, TypeError),  # a secret neither str nor bytes
    ({7: "n" * 40}, TypeError),
    (["new:" + "n" * 40], TypeError),  # a list of entries, not SigningKeys
    ([("new", "n" * 40)], TypeError),
    (b"new:" + b"n" * 40, TypeError),
    (None, TypeError),
    (42, TypeError),
    ({"new": ""}, ValueError),
    ("", ValueError),
])
def test_keys_in_another_form_are_a_clear_type_or_value_error(keys: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="keys|entry|holds no key") as raised:
        verify_seawall_user(header(NEW), keys, now=NOW, **REQUEST)  # type: ignore[arg-type]
    assert "n" * 32 not in str(raised.value)  # no secret in the message


def test_no_key_at_all_refuses_every_header_and_never_raises_otherwise() -> None:
    for keys in ({}, []):
        with pytest.raises(SeawallUserRefused, match="unknown key id"):
            verify_seawall_user(header(NEW), keys, now=NOW, **REQUEST)
        with pytest.raises(SeawallUserRefused, match="no Seawall-User header"):
            verify_seawall_user({}, keys, now=NOW, **REQUEST)
