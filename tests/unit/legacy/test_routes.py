"""Promise: the route table file says exactly which requests Seawall serves, forwards or shadows — the
first matching entry wins, a path it does not name is forwarded — and a file that could be misread is
refused whole, naming the file, the entry and the problem; a refused reload keeps the table in use."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from seawall.config import Settings, describe_invalid_settings
from seawall.legacy.routes import (
    Mode,
    RouteTable,
    RouteTableError,
    RouteTableHolder,
    SideEffects,
    is_reserved,
    load_table,
    parse_table,
)

EXAMPLE = """
[shadow]
ignore = ["request_id"]

[[route]]
path = "/v1/accounts"
methods = ["post"]
mode = "shadow"
ignore = ["id", "/created_at"]
sample = 0.25

[[route]]
path = "/v1/accounts/{id}"
methods = ["GET", "HEAD"]
mode = "shadow"
side_effects = "none"

[[route]]
path = "/v1/accounts/{id}"
mode = "seawall"

[[route]]
path = "/files/{rest:path}"
mode = "legacy"
"""


def test_the_first_matching_route_decides_and_unnamed_paths_are_forwarded() -> None:
    table = parse_table(EXAMPLE)
    create = table.match("POST", "/v1/accounts")
    assert create is not None and create.mode == Mode.SHADOW and create.name == "POST /v1/accounts"
    assert create.ignore == ("request_id", "id", "/created_at") and create.sample == 0.25
    assert create.side_effects == SideEffects.ROLLBACK
    read = table.match("GET", "/v1/accounts/42")
    assert read is not None and read.mode == Mode.SHADOW and read.side_effects == SideEffects.NONE
    delete = table.match("DELETE", "/v1/accounts/42")
    assert delete is not None and delete.mode == Mode.SEAWALL and delete.name == "* /v1/accounts/{id}"
    assert table.match("GET", "/v1/accounts/42/extra") is None  # `{id}` is one segment
    assert table.match("GET", "/v1/accounts/") is None  # and never empty
    files = table.match("PUT", "/files/a/b/c.txt")
    assert files is not None and files.mode == Mode.LEGACY
    assert table.match("GET", "/elsewhere") is None
    assert table.match("GET", "/v1/accounts") is None  # POST only


def test_an_empty_file_is_an_empty_table() -> None:
    assert parse_table("") == RouteTable()


@pytest.mark.parametrize(("text", "problem"), [
    ("[[route]]\npath = '/x'\nmode = 'legacy'\nweight = 3\n", "unknown key(s) weight"),
    ("[[route]]\npath = '/x'\nmode = 'both'\n", "`mode` must be one of"),
    ("[[route]]\nmode = 'legacy'\n", "`path` is required"),
    ("[[route]]\npath = 'x'\nmode = 'legacy'\n", "must start with /"),
    ("[[route]]\npath = '/x/{id'\nmode = 'legacy'\n", "malformed parameter"),
    ("[[route]]\npath = '/x'\nmethods = []\nmode = 'legacy'\n", "non-empty list"),
    ("[[route]]\npath = '/x'\nmethods = ['GE T']\nmode = 'legacy'\n", "not an HTTP method"),
    ("[[route]]\npath = '/admin/jobs'\nmode = 'legacy'\n", "reserved"),
    ("[[route]]\npath = '/admin/{rest:path}'\nmode = 'legacy'\n", "reserved"),
    ("[[route]]\npath = '/metrics'\nmode = 'seawall'\n", "reserved"),
    ("[[route]]\npath = '/livez'\nmode = 'shadow'\n", "reserved"),
    ("[[route]]\npath = '/openapi.json'\nmode = 'legacy'\n", "reserved"),
    ("[[route]]\npath = '/x'\nmode = 'legacy'\nignore = ['id']\n", "only apply to mode = \"shadow\""),
    ("[[route]]\npath = '/x'\nmode = 'shadow'\nsample = 1.5\n", "`sample` must be a number from 0 to 1"),
    ("[[route]]\npath = '/x'\nmode = 'shadow'\nsample = true\n", "`sample`"),
    ("[[route]]\npath = '/x'\nmode = 'shadow'\nside_effects = 'all'\n", "`side_effects` must be"),
    ("[[route]]\npath = '/x'\nmode = 'shadow'\nside_effects = 'none'\n", "needs methods that are all safe"),
    ("[[route]]\npath = '/x'\nmethods = ['GET', 'POST']\nmode = 'shadow'\nside_effects = 'none'\n", "all safe"),
    ("[[route]]\npath = '/x'\nmode = 'shadow'\nignore = 'id'\n", "`ignore` must be a list"),
    ("[routes]\npath = '/x'\n", "unknown top-level key(s) routes"),
    ("[shadow]\nsample = 1\n", "[shadow] takes only `ignore`"),
    ("[shadow]\nignore = 'id'\n", "[shadow] ignore must be a list"),
    ("[[route]\n", "not valid TOML"),
    ("[[route]]\npath = '/x?a=1'\nmode = 'legacy'\n", "must not hold ?, #"),
    ("[[route]]\npath = '/x#top'\nmode = 'legacy'\n", "must not hold ?, #"),
    ("[[route]]\npath = \"/x\\u0000y\"\nmode = 'legacy'\n", "control character"),
    ("[[route]]\npath = \"/x\\ty\"\nmode = 'legacy'\n", "control character"),
    ("[[route]]\npath = '/a/../b'\nmode = 'legacy'\n", ". or .. segments"),
    ("[[route]]\npath = '/a/./b'\nmode = 'legacy'\n", ". or .. segments"),
    ("[[route]]\npath = '/a/{id}/b/{id}'\nmode = 'legacy'\n", "names the parameter 'id' twice"),
    ("[[route]]\npath = '/x'\nmode = 'shadow'\nignore = ['/a~2b']\n", "`~` must be followed by 0 or 1"),
    ("[[route]]\npath = '/x'\nmode = 'shadow'\nignore = ['/a~']\n", "RFC 6901"),
    ("[shadow]\nignore = ['/x/~']\n", "[shadow] ignore '/x/~' is not a JSON Pointer"),
    ("[[route]]\npath = '/ok'\nmode = 'seawall'\n", "same methods and path as route 1"),
])
def test_a_table_that_could_be_misread_is_refused_naming_file_entry_and_problem(text: str, problem: str) -> None:
    with pytest.raises(RouteTableError) as refused:
        parse_table("[[route]]\npath = '/ok'\nmode = 'legacy'\n\n" + text, source="routes.toml")
    message = str(refused.value)
    assert message.startswith("routes.toml: ")
    assert problem in message
    if "[[route]]" in text and "not valid TOML" not in problem:
        assert "route 2" in message  # the entry, counted from 1 (the first one is fine)


def test_valid_pointer_escapes_and_same_path_with_other_methods_are_accepted() -> None:
    table = parse_table("[[route]]\npath = '/x'\nmethods = ['GET']\nmode = 'seawall'\n\n"
                        "[[route]]\npath = '/x'\nmethods = ['POST']\nmode = 'shadow'\nignore = ['/a~0b/c~1d', 'x~y']\n")
    post = table.match("POST", "/x")
    assert post is not None and post.ignore == ("/a~0b/c~1d", "x~y")


def test_get_covers_head_and_a_preflight_is_matched_by_the_method_it_asks_about() -> None:
    table = parse_table("[[route]]\npath = '/v1/me'\nmethods = ['GET']\nmode = 'seawall'\n\n"
                        "[[route]]\npath = '/v1/opts'\nmethods = ['OPTIONS']\nmode = 'seawall'\n")
    head = table.match("HEAD", "/v1/me")
    assert head is not None and head.mode == Mode.SEAWALL
    preflight = table.match("OPTIONS", "/v1/me", "GET")
    assert preflight is not None and preflight.mode == Mode.SEAWALL
    assert table.match("OPTIONS", "/v1/me", "HEAD") is not None  # asks about HEAD: covered by GET
    assert table.match("OPTIONS", "/v1/me") is None  # a plain OPTIONS is OPTIONS: not listed
    assert table.match("OPTIONS", "/v1/me", "DELETE") is None
    assert table.match("OPTIONS", "/v1/opts") is not None
    assert table.match("OPTIONS", "/v1/opts", "GET") is None  # a preflight for GET, not an OPTIONS request
    assert table.match("POST", "/v1/me") is None


def test_route_must_be_an_array_of_tables() -> None:
    with pytest.raises(RouteTableError, match="array of tables"):
        parse_table("route = 3\n")


def test_a_pattern_starting_with_a_parameter_is_allowed_reserved_paths_are_still_seawalls() -> None:
    table = parse_table("[[route]]\npath = '/{rest:path}'\nmode = 'legacy'\n")
    assert table.match("GET", "/admin/jobs") is not None  # the table matches, but the bridge asks first:
    assert is_reserved("/admin/jobs") and is_reserved("/admin") and is_reserved("/metrics")
    assert is_reserved("/docs") and is_reserved("/openapi.json") and is_reserved("/livez")
    assert not is_reserved("/administrator") and not is_reserved("/livez/x") and not is_reserved("/v1/me")


def test_load_table_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "routes.toml"
    path.write_text("[[route]]\npath = '/x'\nmode = 'seawall'\n")
    assert load_table(path).routes[0].mode == Mode.SEAWALL
    with pytest.raises(RouteTableError, match=f"^{tmp_path / 'missing.toml'}: cannot be read"):
        load_table(tmp_path / "missing.toml")
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(RouteTableError, match="cannot be read"):
        load_table(path)


def test_reload_swaps_in_the_new_table_or_keeps_the_one_in_use(tmp_path: Path) -> None:
    path = tmp_path / "routes.toml"
    path.write_text("[[route]]\npath = '/x'\nmode = 'seawall'\n")
    settings = type("S", (), {"legacy_routes": path})()
    holder = RouteTableHolder.build(settings)
    first = holder.current
    assert not holder.changed()
    path.write_text("[[route]]\npath = '/x'\nmode = 'legacy'\n\n[[route]]\npath = '/y'\nmode = 'seawall'\n")
    assert holder.changed()
    assert holder.reload() is holder.current != first
    assert len(holder.current.routes) == 2 and not holder.changed()
    in_use = holder.current
    path.write_text("[[route]]\npath = '/x'\nmode = 'nope'\n")
    with pytest.raises(RouteTableError, match="mode"):
        holder.reload()
    assert holder.current is in_use
    assert not holder.changed()  # the refused version is not retried at every poll


def test_no_file_means_an_empty_table_and_a_bad_file_refuses_to_start(tmp_path: Path) -> None:
    empty = RouteTableHolder.build(type("S", (), {"legacy_routes": None})())
    assert empty.current == RouteTable() and empty.reload() == RouteTable()
    bad = tmp_path / "routes.toml"
    bad.write_text("[[route]]\npath = '/admin'\nmode = 'legacy'\n")
    with pytest.raises(RouteTableError, match="reserved"):
        RouteTableHolder.build(type("S", (), {"legacy_routes": bad})())


def test_a_bad_file_at_start_is_one_settings_line_naming_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "routes.toml"
    bad.write_text("[[route]]\npath = '/x'\nmode = 'legacy'\nmehtods = ['GET']\n")
    with pytest.raises(ValidationError) as raised:
        Settings(var_dir=tmp_path, legacy_upstream="http://127.0.0.1:9", legacy_routes=bad)
    [line] = describe_invalid_settings(raised.value)
    assert line.startswith("SEAWALL_LEGACY_ROUTES: ") and f"{bad}: route 1 (/x): unknown key(s) mehtods" in line
    bad.write_text("[[route]]\npath = '/x'\nmode = 'legacy'\n")
    assert Settings(var_dir=tmp_path, legacy_upstream="http://127.0.0.1:9", legacy_routes=bad).legacy_routes == bad
