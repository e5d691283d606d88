"""Promise: the `SEAWALL_OPERATOR_KEYS` format is strict (name:scope:sha256-hex, unique names) and its
errors never quote a digest; a presented key is found by its digest only; `read` allows only GET/HEAD."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from seawall.config import Settings
from seawall.operator_keys import (
    KEY_PREFIX,
    OperatorScope,
    key_digest,
    key_ring,
    new_operator_key,
    parse_operator_keys,
)

DIGEST_A, DIGEST_B = "a" * 64, "b" * 64


def test_entries_are_separated_by_commas_or_lines_and_comments_are_skipped() -> None:
    text = f"# rotated 2026-11\nci:read:{DIGEST_A}\n\n  ops-1:operate:{DIGEST_B} , x.y_z-2:read:{'c' * 64}\n"
    keys = parse_operator_keys(text)
    assert [(k.name, k.scope) for k in keys] == [("ci", OperatorScope.READ), ("ops-1", OperatorScope.OPERATE),
                                                 ("x.y_z-2", OperatorScope.READ)]
    assert keys[0].entry == f"ci:read:{DIGEST_A}"


@pytest.mark.parametrize("text, problem", [
    ("ci:read", "is not name:scope:sha256-hex-digest"),
    (f"CI:read:{DIGEST_A}", "a key name is"),
    (f"ci:admin:{DIGEST_A}", "the scope is read, operate or metrics"),
    ("ci:read:" + "A" * 64, "64 lowercase hex"),
    ("ci:read:" + "a" * 63, "64 lowercase hex"),
    (f"ci:read:{DIGEST_A},ci:operate:{DIGEST_B}", "used twice"),
])
def test_a_bad_entry_is_refused_without_quoting_its_digest(text: str, problem: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_operator_keys(text)
    assert problem in str(raised.value)
    assert "aaaa" not in str(raised.value) and "AAAA" not in str(raised.value)


def test_a_key_is_found_by_its_digest_and_the_admin_key_is_admin_with_operate() -> None:
    key = new_operator_key()
    assert key.startswith(KEY_PREFIX) and len(key) == len(KEY_PREFIX) + 43
    ring = key_ring(f"ci:read:{key_digest(key)}", "legacy-admin-key")
    found = ring.find(key)
    assert found is not None and found.name == "ci" and found.scope is OperatorScope.READ
    admin = ring.find("legacy-admin-key")
    assert admin is not None and (admin.name, admin.scope) == ("admin", OperatorScope.OPERATE)
    assert ring.find(key_digest(key)) is None  # the digest itself is not a key
    assert ring.find("") is None
    assert not key_ring(None, None).keys


def test_read_allows_only_safe_methods() -> None:
    assert OperatorScope.READ.allows("GET") and OperatorScope.READ.allows("head")
    assert not any(OperatorScope.READ.allows(m) for m in ("POST", "PUT", "PATCH", "DELETE"))
    assert all(OperatorScope.OPERATE.allows(m) for m in ("GET", "POST", "DELETE"))
    assert not any(OperatorScope.METRICS.allows(m) for m in ("GET", "HEAD", "POST"))  # /metrics only


def test_operator_key_new_prints_the_key_once_and_a_matching_entry() -> None:
    result = subprocess.run([sys.executable, "-m", "seawall", "operator-key", "new", "--name", "ci-2026",
                             "--scope", "operate", "--json"], capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).resolve().parents[2], check=False)
    assert result.returncode == 0, result.stderr
    made = json.loads(result.stdout)
    assert made["entry"] == f"ci-2026:operate:{key_digest(made['key'])}"
    [parsed] = parse_operator_keys(made["entry"])
    assert key_ring(made["entry"], None).find(made["key"]) == parsed


def test_every_admin_route_a_read_key_may_not_call_declares_403() -> None:
    from fastapi.routing import APIRoute

    from seawall.admin import ROUTERS

    routes = [route for router in ROUTERS for route in router.routes if isinstance(route, APIRoute)]
    mutating = [route for route in routes if (route.methods or set()) - {"GET", "HEAD"}]
    assert mutating, "the admin API has a mutating route (job replay)"
    for route in mutating:
        assert 403 in route.responses, route.path


def test_one_key_under_two_names_is_refused_so_no_order_decides_its_scope() -> None:
    digest = key_digest("swop_the_same_key")
    with pytest.raises(ValueError, match="the same key is listed twice"):
        parse_operator_keys(f"a:read:{digest},b:operate:{digest}")


def test_the_admin_key_may_not_repeat_a_name_or_a_key_of_the_list() -> None:
    digest = key_digest("swop_listed")
    with pytest.raises(ValueError, match="the name admin is used twice"):
        key_ring(f"admin:read:{digest}", "another key")
    with pytest.raises(ValueError, match="the same key is listed twice"):
        key_ring(f"ops:read:{digest}", "swop_listed")
    with pytest.raises(ValidationError):
        Settings(operator_keys=SecretStr(f"admin:read:{digest}"), admin_api_key=SecretStr("another key"))
