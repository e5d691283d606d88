"""Promise: only a valid `host[:port]` (RFC 3986 §3.2.2) is ever passed on as X-Forwarded-Host or
Forwarded host= or used for a rewritten Location; a client naming forwarding headers in `Connection`
cannot remove what Seawall sets; an upstream `Location` never keeps the upstream's internal origin; and
a forwarded answer carries no `Date` of the upstream's (the server adds exactly one)."""

from __future__ import annotations

import pytest

from seawall.legacy.headers import client_host, request_headers, response_headers, valid_host
from seawall.legacy.upstream import parse_upstream
from seawall.ratelimit.limits import parse_networks

UPSTREAM = parse_upstream("http://legacy.internal:8000/app/")


def sent(headers: list[tuple[bytes, bytes]], *, peer: str = "198.51.100.7",
         trusted: str = "") -> dict[bytes, list[bytes]]:
    out: dict[bytes, list[bytes]] = {}
    for name, value in request_headers(headers, upstream=UPSTREAM, scheme="http", peer=peer,
                                       trusted=parse_networks(trusted) if trusted else (), request_id="r",
                                       reserved=frozenset()):
        out.setdefault(name, []).append(value)
    return out


@pytest.mark.parametrize("host", ["api.example.com", "api.example.com:443", "127.0.0.1:8000", "[::1]",
                                  "[::1]:8080", "[2001:db8::1]:80", "localhost", "a_b.example", "x:"])
def test_valid_hosts(host: str) -> None:
    assert valid_host(host)


@pytest.mark.parametrize("host", ["", " ", "api example.com", "evil@x", "user:pw@x", 'a"b', "a,b", "a'b", "a;b",
                                  "a=b", "x:123456", "x:8o", "[::1", "[zz::1]", "[fe80::1%eth0]", "::1", "a/b",
                                  "a\tb", "%41", "[v1.x]"])
def test_invalid_hosts(host: str) -> None:
    assert not valid_host(host)


def test_a_host_that_is_not_valid_or_repeated_is_never_passed_on() -> None:
    assert client_host([(b"host", b"api.example.com"), (b"host", b"other.example")]) is None
    for bad in (b"evil@x", b'a"b, for=1.2.3.4', b""):
        headers = sent([(b"host", bad)])
        assert b"x-forwarded-host" not in headers
        assert b"host=" not in headers[b"forwarded"][0]


def test_a_trusted_proxys_x_forwarded_host_is_kept_only_when_valid() -> None:
    good = sent([(b"host", b"api.example.com"), (b"x-forwarded-host", b"public.example")],
                peer="10.0.0.2", trusted="10.0.0.0/8")
    assert good[b"x-forwarded-host"] == [b"public.example"]
    bad = sent([(b"host", b"api.example.com"), (b"x-forwarded-host", b"evil@x, other")], peer="10.0.0.2",
               trusted="10.0.0.0/8")
    assert bad[b"x-forwarded-host"] == [b"api.example.com"]


@pytest.mark.parametrize("listed", [b"Host", b"host, X-Forwarded-Host, Forwarded", b"X-Request-Id, X-Forwarded-For"])
def test_connection_cannot_remove_what_seawall_sets(listed: bytes) -> None:
    headers = sent([(b"host", b"api.example.com"), (b"connection", listed)])
    assert headers[b"host"] == [b"legacy.internal:8000"]
    assert headers[b"x-forwarded-host"] == [b"api.example.com"]
    assert headers[b"forwarded"] == [b"for=198.51.100.7;proto=http;host=api.example.com"]
    assert headers[b"x-forwarded-for"] == [b"198.51.100.7"]
    assert headers[b"x-request-id"] == [b"r"]


def test_a_location_never_keeps_the_upstreams_origin_when_the_public_one_is_unknown() -> None:
    for location, relative in ((b"http://legacy.internal:8000/app/next?x=1", b"/next?x=1"),
                               (b"http://legacy.internal:8000/app", b"/"),
                               (b"http://legacy.internal:8000/app?x=1", b"/?x=1")):
        out = response_headers([(b"Location", location)], upstream=UPSTREAM, public_origin=None)
        assert out == [(b"location", relative)]
    known = response_headers([(b"Location", b"http://legacy.internal:8000/app?x=1")], upstream=UPSTREAM,
                             public_origin="https://api.example.com")
    assert known == [(b"location", b"https://api.example.com/?x=1")]


@pytest.mark.parametrize(("location", "rest"), [
    (b"HTTP://Legacy.Internal:8000/app/next", b"/next"),  # scheme and host are case-insensitive
    (b"//legacy.internal:8000/app/next?x=1#top", b"/next?x=1#top"),  # scheme-relative, fragment kept
])
def test_a_location_on_the_upstreams_base_however_spelled_is_rewritten(location: bytes, rest: bytes) -> None:
    out = response_headers([(b"Location", location)], upstream=UPSTREAM, public_origin="https://api.example.com")
    assert out == [(b"location", b"https://api.example.com" + rest)]
    default_port = parse_upstream("http://legacy.internal/app")
    for spelled in (b"http://legacy.internal:80/app/next", b"http://LEGACY.internal/app/next"):
        assert response_headers([(b"Location", spelled)], upstream=default_port, public_origin=None) == [
            (b"location", b"/next")]


@pytest.mark.parametrize("location", [
    b"/app/next", b"next", b"https://legacy.internal:8000/app/next", b"http://legacy.internal:8001/app/next",
    b"http://other.example/app/next", b"http://legacy.internal:8000@evil.example/app/next",
    b"http://legacy.internal:8000/application",  # not under the prefix `/app` (a segment boundary)
    b"http://legacy.internal:8000/other",  # the upstream's origin outside its prefix: no public URL; as is
    b"http://[::1/app", b"mailto:x@example.com", b"tel:123", b"urn:x", b"http:next", b"http://legacy.internal:x/app",
    b"http://legacy.internal:8000/app/../other",  # outside the prefix once its dot segments are removed
])
def test_other_locations_pass_unchanged(location: bytes) -> None:
    out = response_headers([(b"Location", location)], upstream=UPSTREAM, public_origin="https://api.example.com")
    assert out == [(b"location", location)]


IP_UPSTREAM = parse_upstream("http://127.0.0.1:8001/app")


@pytest.mark.parametrize("location", [  # what browsers read as the upstream (WHATWG URL parsing)
    b"http://@127.0.0.1:8001/app/x", b"http://user:pw@127.0.0.1:8001/app/x", b"http:\\\\127.0.0.1:8001\\app\\x",
    b"/\\127.0.0.1:8001/app/x", b"///127.0.0.1:8001/app/x", b"http:/127.0.0.1:8001/app/x",
    b"http:///127.0.0.1:8001/app/x", b"http://127.0.0.1.:8001/app/x", b"http://2130706433:8001/app/x",
    b"http://127.1:8001/app/x", b"http://0x7f.0.0.1:8001/app/x", b"http://%31%32%37.0.0.1:8001/app/x",
    b" \thttp://127.0.0.1:8001/app/x\n", b"HTTP://127.0.0.1:8001/app/./x", b"http://127.0.0.1:8001/app/y/../x",
    b"http://127.0.0.1:8001/app/y/%2e%2E/x",
])
def test_every_spelling_of_the_upstream_is_rewritten(location: bytes) -> None:
    out = response_headers([(b"Location", location)], upstream=IP_UPSTREAM, public_origin="https://api.example.com")
    assert out == [(b"location", b"https://api.example.com/x")]


def test_ipv6_and_non_ascii_locations_on_the_upstream_are_rewritten() -> None:
    ipv6 = parse_upstream("http://[::1]:8001")
    for spelled in (b"http://[0:0::1]:8001/x", b"http://[0000:0000:0000:0000:0000:0000:0000:0001]:8001/x"):
        assert response_headers([(b"Location", spelled)], upstream=ipv6, public_origin=None) == [(b"location", b"/x")]
    cafe = "http://legacy.internal:8000/app/caf\u00e9".encode()
    assert response_headers([(b"Location", cafe)], upstream=UPSTREAM, public_origin=None) == [
        (b"location", "/caf\u00e9".encode())]


@pytest.mark.parametrize("location", [b"http://legacy.internal:8000/app//evil.example/x",
                                      b"http://legacy.internal:8000/app/\\evil.example/x"])
def test_an_origin_relative_rewrite_never_names_another_host(location: bytes) -> None:
    [(_, value)] = response_headers([(b"Location", location)], upstream=UPSTREAM, public_origin=None)
    assert value == b"/%2Fevil.example/x"  # a path on this host, not `//evil.example/x`


def test_the_upstreams_date_is_dropped() -> None:
    out = response_headers([(b"Date", b"Mon, 30 Nov 2026 21:00:00 GMT"), (b"Content-Type", b"text/html")],
                           upstream=UPSTREAM, public_origin=None)
    assert out == [(b"content-type", b"text/html")]
