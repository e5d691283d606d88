"""Promise: the target of a forwarded request is always the configured upstream (nothing a request
carries changes the host), and the headers sent each way follow RFC 9110 §7.6.1 (hop-by-hop removed)
and RFC 7239 (Forwarded), trusting a client's forwarding headers only from a trusted proxy."""

from __future__ import annotations

import httpx
import pytest

from seawall.legacy.headers import request_headers, response_headers, without_hop_by_hop
from seawall.legacy.upstream import parse_upstream
from seawall.ratelimit.limits import parse_networks

UPSTREAM = parse_upstream("http://legacy.internal:8000/app/")


@pytest.mark.parametrize("raw_path", [
    b"/x", b"//evil.example/x", b"/..//evil.example/x", b"/%2F%2Fevil.example/x", b"/@evil.example/x",
    b"/x@evil.example:80/", b"/\\\\evil.example/x", b"/http://evil.example/",
])
def test_no_path_changes_the_host(raw_path: bytes) -> None:
    url = httpx.URL(UPSTREAM.target(raw_path, b"next=http://evil.example/"))
    assert (url.scheme, url.host, url.port) == ("http", "legacy.internal", 8000)
    if b".." not in raw_path:  # dot segments are resolved (RFC 3986 §5.2.4): the bridge refuses them first
        assert url.raw_path.startswith(b"/app/")


def test_a_target_that_is_not_a_path_is_refused() -> None:
    for raw_path in (b"http://evil.example/", b"evil.example", b"@evil.example", b"*"):
        with pytest.raises(ValueError):
            UPSTREAM.target(raw_path, b"")


def headers_of(pairs: list[tuple[bytes, bytes]]) -> dict[bytes, list[bytes]]:
    out: dict[bytes, list[bytes]] = {}
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return out


CLIENT_HEADERS = [
    (b"Host", b"api.example.com"), (b"Connection", b"keep-alive, X-Hop"), (b"X-Hop", b"1"),
    (b"Keep-Alive", b"timeout=5"), (b"TE", b"trailers"), (b"Transfer-Encoding", b"chunked"),
    (b"Upgrade", b"h2c"), (b"Proxy-Authorization", b"Basic eA=="), (b"Proxy-Connection", b"close"),
    (b"Trailer", b"X-Sum"), (b"X-Forwarded-For", b"203.0.113.9"), (b"X-Forwarded-Proto", b"https"),
    (b"X-Forwarded-Host", b"public.example"), (b"Forwarded", b"for=203.0.113.9"),
    (b"X-Request-Id", b"client-id"), (b"Seawall-User", b"admin"), (b"X-Legacy-Auth", b"forged"),
    (b"Accept", b"application/json"), (b"Cookie", b"a=1"),
]


def test_an_untrusted_peer_gets_its_forwarding_headers_replaced() -> None:
    sent = headers_of(request_headers(CLIENT_HEADERS, upstream=UPSTREAM, scheme="http", peer="198.51.100.7",
                                      trusted=(), request_id="rid-1", reserved=frozenset({b"x-legacy-auth"}),
                                      identity=[(b"x-legacy-auth", b"signed")]))
    for name in (b"connection", b"x-hop", b"keep-alive", b"te", b"transfer-encoding", b"upgrade",
                 b"proxy-authorization", b"proxy-connection", b"trailer", b"seawall-user"):
        assert name not in sent, name
    assert sent[b"host"] == [b"legacy.internal:8000"]
    assert sent[b"x-forwarded-for"] == [b"198.51.100.7"]
    assert sent[b"x-forwarded-proto"] == [b"http"]
    assert sent[b"x-forwarded-host"] == [b"api.example.com"]
    assert sent[b"forwarded"] == [b'for=198.51.100.7;proto=http;host=api.example.com']
    assert sent[b"x-request-id"] == [b"rid-1"]
    assert sent[b"x-legacy-auth"] == [b"signed"]  # the client's removed, Seawall's added
    assert sent[b"accept"] == [b"application/json"] and sent[b"cookie"] == [b"a=1"]


def test_a_trusted_proxy_has_its_chain_extended() -> None:
    sent = headers_of(request_headers(CLIENT_HEADERS, upstream=UPSTREAM, scheme="http", peer="10.0.0.2",
                                      trusted=parse_networks("10.0.0.0/8"), request_id="rid-1",
                                      reserved=frozenset()))
    assert sent[b"x-forwarded-for"] == [b"203.0.113.9, 10.0.0.2"]
    assert sent[b"x-forwarded-proto"] == [b"https"]
    assert sent[b"x-forwarded-host"] == [b"public.example"]
    assert sent[b"forwarded"] == [b"for=203.0.113.9, for=10.0.0.2;proto=http;host=api.example.com"]


def test_forwarded_quotes_ipv6_and_non_token_hosts() -> None:
    sent = headers_of(request_headers([(b"host", b"[::1]:8080")], upstream=UPSTREAM, scheme="https", peer="::1",
                                      trusted=(), request_id="r", reserved=frozenset()))
    assert sent[b"forwarded"] == [b'for="[::1]";proto=https;host="[::1]:8080"']


def test_answer_headers_lose_hop_by_hop_and_upstream_locations_are_rewritten() -> None:
    answer = [(b"Connection", b"X-Private"), (b"X-Private", b"s"), (b"Keep-Alive", b"timeout=5"),
              (b"Transfer-Encoding", b"chunked"), (b"Set-Cookie", b"a=1"), (b"Set-Cookie", b"b=2"),
              (b"Location", b"http://legacy.internal:8000/app/next?x=1")]
    out = response_headers(answer, upstream=UPSTREAM, public_origin="https://api.example.com")
    assert out == [(b"set-cookie", b"a=1"), (b"set-cookie", b"b=2"), (b"location", b"https://api.example.com/next?x=1")]
    elsewhere = [(b"Location", b"http://legacy.internal:8000/other")]  # outside the base's prefix: untouched
    assert response_headers(elsewhere, upstream=UPSTREAM, public_origin="https://api.example.com") == [
        (b"location", b"http://legacy.internal:8000/other")]
    assert without_hop_by_hop([(b"Location", b"/relative")]) == [(b"location", b"/relative")]
