"""Promise (issue 16, deliverable 2): a forwarded request reaches the legacy app as the client sent it
(method, path, query, end-to-end headers, streamed bodies), with hop-by-hop headers removed both ways
and the forwarding headers set by Seawall alone; large bodies stream through with bounded memory;
redirects are passed on, never followed; upstream errors keep the one error shape; and no request can
make Seawall call a host other than the upstream. Real processes: the legacy app and `seawall api`."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.legacy.bridge_rig import ADMIN_KEY, BridgeRig, raw_request
from tests.support.legacy_app.echo import download_digest

ROUTES = """
[[route]]
path = "/v1/me"
methods = ["GET"]
mode = "seawall"

[[route]]
path = "/shop/{rest:path}"
mode = "legacy"
"""
MIB = 1024 * 1024
HSTS_SECONDS = 31536000


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BridgeRig]:
    with BridgeRig.start(tmp_path_factory.mktemp("bridge-proxy"), routes=ROUTES, env={
        "SEAWALL_LEGACY_READ_TIMEOUT_SECONDS": "1",
        "SEAWALL_LEGACY_MAX_BODY_BYTES": str(80 * MIB),
        "SEAWALL_HSTS_MAX_AGE_SECONDS": str(HSTS_SECONDS),
    }) as started:
        yield started


@pytest.fixture
def client(rig: BridgeRig) -> Iterator[httpx.Client]:
    rig.legacy.reset()
    with httpx.Client(base_url=rig.url, timeout=30.0) as http:
        yield http


def seen_headers(echoed: dict[str, object]) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for name, value in echoed["headers"]:  # type: ignore[attr-defined]
        headers.setdefault(name.lower(), []).append(value)
    return headers


def test_method_path_query_headers_and_body_arrive_unchanged(client: httpx.Client) -> None:
    body = bytes(range(256)) * 1000
    answer = client.request("PATCH", "/shop/a%20b/%C3%A9?q=1&q=2&x=%2F", content=body,
                            headers={"X-Custom": "one", "Content-Type": "application/octet-stream",
                                     "X-Request-Id": "bridge-test-0001"})
    assert answer.status_code == 200
    echoed = answer.json()
    assert echoed["method"] == "PATCH"
    assert echoed["raw_path"] == "/shop/a%20b/%C3%A9"  # percent-encoding kept as sent
    assert echoed["query"] == "q=1&q=2&x=%2F"
    assert echoed["body_length"] == len(body)
    assert echoed["body_sha256"] == hashlib.sha256(body).hexdigest()
    headers = seen_headers(echoed)
    assert headers["x-custom"] == ["one"]
    assert headers["content-type"] == ["application/octet-stream"]
    assert headers["x-request-id"] == [answer.headers["x-request-id"]] == ["bridge-test-0001"]


def test_forwarded_requests_are_logged_and_counted_by_table_pattern(rig: BridgeRig, client: httpx.Client) -> None:
    assert client.get("/shop/x/y", headers={"X-Request-Id": "bridge-test-0002"}).status_code == 200
    assert client.get("/not/named", headers={"X-Request-Id": "bridge-test-0003"}).status_code == 200
    assert rig.server is not None
    deadline = time.monotonic() + 3
    while "bridge-test-0003" not in rig.server.log():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    lines = {json.loads(line)["request_id"]: json.loads(line) for line in rig.server.log().splitlines()
             if line.startswith("{") and '"http.request"' in line and "bridge-test-000" in line}
    assert lines["bridge-test-0002"]["route"] == "/shop/{rest:path}"
    assert lines["bridge-test-0003"]["route"] == "legacy"
    metrics = client.get("/metrics", headers={"Authorization": f"Bearer {ADMIN_KEY}"}).text
    assert 'route="/shop/{rest:path}"' in metrics and 'route="legacy"' in metrics
    assert 'seawall_provider_calls_total{outcome="success",provider="legacy"}' in metrics


def test_hop_by_hop_removed_and_forwarding_headers_set_by_seawall_alone(rig: BridgeRig, client: httpx.Client) -> None:
    answer = client.get("/anything", headers={
        "Connection": "keep-alive, X-Secret-Hop", "X-Secret-Hop": "1", "Keep-Alive": "timeout=9",
        "Proxy-Connection": "keep-alive", "TE": "trailers", "Proxy-Authorization": "Basic Zm9vOmJhcg==",
        "X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example",
        "Forwarded": "for=6.6.6.6;host=evil.example", "Seawall-User": "admin", "Seawall-User-Signature": "forged",
    })
    headers = seen_headers(answer.json())
    for name in ("x-secret-hop", "keep-alive", "proxy-connection", "te", "proxy-authorization",
                 "seawall-user", "seawall-user-signature"):
        assert name not in headers, name
    assert headers.get("connection", ["keep-alive"]) == ["keep-alive"]  # httpx's own, to the upstream
    assert headers["host"] == [f"127.0.0.1:{rig.legacy.port}"]
    assert headers["x-forwarded-for"] == ["127.0.0.1"]  # the peer, not the client's claim
    assert headers["x-forwarded-proto"] == ["http"]
    assert headers["x-forwarded-host"] == [f"127.0.0.1:{rig.port}"]
    assert headers["forwarded"] == [f'for=127.0.0.1;proto=http;host="127.0.0.1:{rig.port}"']

    hop = client.get("/hop-by-hop")
    assert hop.status_code == 200 and hop.content == b"hop"
    assert hop.headers["x-end-to-end"] == "kept"
    for name in ("x-private-hop", "keep-alive", "proxy-authenticate", "trailer"):
        assert name not in hop.headers, name


SECURITY_HEADERS = ("content-security-policy", "x-frame-options", "referrer-policy", "x-content-type-options",
                    "cache-control")


def test_forwarded_answers_keep_legacys_headers_and_seawalls_own_get_the_security_headers(
        rig: BridgeRig, client: httpx.Client) -> None:
    page = client.get("/page")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "public, max-age=60"  # legacy's, not no-store
    assert page.headers["x-frame-options"] == "SAMEORIGIN"
    for name in ("content-security-policy", "referrer-policy", "x-content-type-options"):
        assert name not in page.headers, name
    echoed = client.get("/anything")
    assert echoed.status_code == 200 and not any(name in echoed.headers for name in SECURITY_HEADERS)
    # HSTS is the public host's policy, not the page's: on forwarded answers too, unless legacy set its own
    assert page.headers["strict-transport-security"] == echoed.headers["strict-transport-security"] \
        == f"max-age={HSTS_SECONDS}"
    legacys = client.get("/page", params={"hsts": "max-age=60"})
    assert legacys.headers.get_list("strict-transport-security") == ["max-age=60"]
    own = client.get("/v1/me")  # Seawall's own answer: the headers
    assert own.status_code == 401 and own.headers["strict-transport-security"] == f"max-age={HSTS_SECONDS}"
    assert own.headers["content-security-policy"].startswith("default-src 'none'")
    assert own.headers["cache-control"] == "no-store"
    refused = raw_request(rig.port, b"GET /a/%2e%2e/b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").lower()
    assert refused.startswith(b"http/1.1 400 ")  # the bridge's own refusal: Seawall's answer, the headers
    assert b"\r\ncontent-security-policy: default-src 'none'" in refused and b"\r\ncache-control: no-store" in refused


def test_a_forwarded_answer_has_exactly_one_date(rig: BridgeRig) -> None:
    answer = raw_request(rig.port, b"GET /page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 200 ")
    assert head.count(b"\r\ndate: ") == 1, head


def test_get_routes_cover_head_and_preflights_go_where_their_request_goes(rig: BridgeRig,
                                                                           client: httpx.Client) -> None:
    head = client.head("/v1/me")  # `/v1/me` is `seawall` for GET: HEAD too, answered as Seawall's GET would be
    assert head.status_code == 401 and head.content == b"" and "content-security-policy" in head.headers
    preflight = client.options("/v1/me", headers={"Origin": "https://app.example",
                                                  "Access-Control-Request-Method": "GET"})
    assert preflight.status_code == 400  # Seawall's CORS (no allowed origins), not legacy's
    assert preflight.json()["error"]["type"] == "cors_not_allowed"
    assert rig.legacy.requests() == []
    plain = client.options("/v1/me")  # no Access-Control-Request-Method: an OPTIONS, not listed: forwarded
    assert plain.status_code == 200 and plain.json()["method"] == "OPTIONS"
    assert [r["path"] for r in rig.legacy.requests()] == ["/v1/me"]


@pytest.mark.parametrize("host", [b"evil@x", b"a b", b"", b'a"b', b"a,b", b"x:99999999", b"[::1"])
def test_a_malformed_host_is_refused_with_400(rig: BridgeRig, host: bytes) -> None:
    rig.legacy.reset()
    answer = raw_request(rig.port, b"GET /anything HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:300]
    assert b'"error":{"type":"bad_request"' in answer.replace(b" ", b""), answer[:500]
    assert rig.legacy.requests() == []


def test_two_hosts_are_refused_and_no_host_gets_a_relative_location(rig: BridgeRig) -> None:
    rig.legacy.reset()
    answer = raw_request(rig.port, b"GET /anything HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ") and b"bad_request" in answer, answer[:300]
    assert rig.legacy.requests() == []
    old = raw_request(rig.port, b"GET /redirect-absolute HTTP/1.0\r\n\r\n")  # HTTP/1.0: no Host, origin unknown
    head = old.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 301 ") and b"\r\nlocation: /elsewhere" in head, head
    assert f"127.0.0.1:{rig.legacy.port}".encode() not in head


def test_connection_naming_host_cannot_remove_the_forwarding_headers(rig: BridgeRig, client: httpx.Client) -> None:
    answer = client.get("/anything", headers={"Connection": "Host, X-Forwarded-Host, Forwarded"})
    headers = seen_headers(answer.json())
    assert headers["x-forwarded-host"] == [f"127.0.0.1:{rig.port}"]
    assert headers["forwarded"] == [f'for=127.0.0.1;proto=http;host="127.0.0.1:{rig.port}"']


def test_large_bodies_stream_both_ways_with_bounded_memory(rig: BridgeRig, client: httpx.Client) -> None:
    """64 MiB up and 256 MiB down: the serving process's RSS grows by far less than either body."""
    before = rig.rss()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rig.rss())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        upload_size = 64 * MIB
        chunk = hashlib.sha256(b"up").digest() * 2048  # 64 KiB
        expected = hashlib.sha256()

        def upload() -> Iterator[bytes]:
            for _ in range(upload_size // len(chunk)):
                expected.update(chunk)
                yield chunk

        started = time.monotonic()
        answer = client.post("/upload", content=upload(), headers={"Content-Length": str(upload_size)})
        assert answer.status_code == 200
        assert answer.json()["body_length"] == upload_size
        assert answer.json()["body_sha256"] == expected.hexdigest()
        upload_seconds = time.monotonic() - started

        download_size = 256 * MIB
        received = hashlib.sha256()
        length = 0
        started = time.monotonic()
        with client.stream("GET", f"/download?bytes={download_size}") as streamed:
            assert streamed.status_code == 200
            for part in streamed.iter_raw():
                received.update(part)
                length += len(part)
        download_seconds = time.monotonic() - started
        assert length == download_size
        assert received.hexdigest() == streamed.headers["x-content-sha256"] == download_digest(download_size)
    finally:
        done.set()
        sampler.join(timeout=2)
    growth = peak[0] - before
    print(f"rss before {before / MIB:.1f} MiB, peak growth {growth / MIB:.1f} MiB; "
          f"64 MiB up in {upload_seconds:.2f}s, 256 MiB down in {download_seconds:.2f}s")
    assert growth < 32 * MIB, f"the serving process grew by {growth / MIB:.1f} MiB"


def test_a_client_leaving_mid_download_stops_the_upstream_read(rig: BridgeRig) -> None:
    with httpx.Client(base_url=rig.url, timeout=10.0) as client, \
            client.stream("GET", f"/download?bytes={4096 * MIB}&digest=no") as streamed:
        next(streamed.iter_raw())
    deadline = time.monotonic() + 3  # pumping the rest of the 4 GiB through would take far longer
    assert rig.server is not None
    while "legacy.client_gone" not in rig.server.log():
        assert time.monotonic() < deadline, "the bridge went on reading the upstream for a client that left"
        time.sleep(0.05)


def test_redirects_are_passed_on_never_followed(rig: BridgeRig, client: httpx.Client) -> None:
    relative = client.get("/redirect")
    assert relative.status_code == 302
    assert relative.headers["location"] == "/elsewhere?from=redirect"
    absolute = client.get("/redirect-absolute")
    assert absolute.status_code == 301
    # on the upstream's own origin: rewritten onto the origin the client used
    assert absolute.headers["location"] == f"http://127.0.0.1:{rig.port}/elsewhere"
    assert [r["path"] for r in rig.legacy.requests()] == ["/redirect", "/redirect-absolute"]


@pytest.mark.parametrize("location", ["mailto:x@example.com", "tel:123", "urn:x", "http:next",
                                      "http:\\\\127.0.0.1:1\\x"])
def test_a_redirect_httpx_could_not_follow_is_still_passed_on(rig: BridgeRig, location: str) -> None:
    # a raw socket: an httpx client would fail on these Locations itself (as the bridge's used to: a 500)
    target = httpx.URL("/redirect-to", params={"location": location}).raw_path
    head = raw_request(rig.port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head = head.split(b"\r\n\r\n", 1)[0]
    assert head.lower().startswith(b"http/1.1 302 "), head
    assert b"\r\nlocation: " + location.encode() in head, head


def test_a_rewritten_location_without_a_host_never_names_another_host(rig: BridgeRig) -> None:
    location = f"{rig.legacy.url}//evil.example/path"  # on the upstream's base: rewritten origin-relative
    request = f"GET /redirect-to?location={location} HTTP/1.0\r\n\r\n".encode()  # HTTP/1.0, no Host
    head = raw_request(rig.port, request).split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.0 302 ") or head.startswith(b"http/1.1 302 "), head
    assert b"\r\nlocation: /%2fevil.example/path" in head, head


def test_upstream_errors_pass_through_or_take_the_one_error_shape(client: httpx.Client) -> None:
    failing = client.get("/status/503")
    assert failing.status_code == 503 and failing.json() == {"status": 503}  # legacy's own answer, as is
    started = time.monotonic()
    late = client.get("/slow?seconds=8")
    assert late.status_code == 504
    assert late.json()["error"]["type"] == "gateway_timeout"
    assert time.monotonic() - started < 5.0  # the read timeout (1 s), not the upstream's 8 s


def test_body_declared_over_the_limit_is_refused_before_connecting(rig: BridgeRig) -> None:
    rig.legacy.reset()
    answer = raw_request(rig.port, b"POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                   b"Content-Length: %d\r\n\r\n" % (81 * MIB))
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b'"payload_too_large"' in answer
    assert rig.legacy.requests() == []


def test_body_streaming_past_the_limit_is_cut_off_with_413(rig: BridgeRig, client: httpx.Client) -> None:
    chunk = b"x" * MIB

    def chunks() -> Iterator[bytes]:
        for _ in range(82):  # chunked (no Content-Length): the limit (80 MiB) is found while streaming
            yield chunk

    answer = client.post("/upload", content=chunks())
    assert answer.status_code == 413
    assert answer.json()["error"]["type"] == "payload_too_large"
    small = client.post("/upload", content=b"y" * 1000)  # the bridge and its pool are fine afterwards
    assert small.status_code == 200 and small.json()["body_length"] == 1000


def test_seawall_routes_and_reserved_paths_are_never_forwarded(rig: BridgeRig, client: httpx.Client) -> None:
    me = client.get("/v1/me")  # named `seawall` in the table: Seawall's own 401
    assert me.status_code == 401 and me.json()["error"]["type"] in ("unauthorized", "invalid_session")
    assert client.get("/livez").status_code == 200
    assert client.get("/admin/jobs").status_code in (401, 403)  # Seawall's operator auth, whatever the table says
    assert client.get("/openapi.json").json()["info"]["title"] == "Seawall"
    assert rig.legacy.requests() == []


@pytest.mark.parametrize(("target", "expected"), [
    (b"http://{evil}/x", b"200"),  # absolute-form: the server keeps the path only
    (b"//{evil}/x", b"200"), (b"/%2F%2F{evil}/x", b"200"), (b"/@{evil}/x", b"200"),  # paths at the upstream
    (b"/..//{evil}/x", b"400"),  # dot segments: refused by the bridge
    (b"@{evil}/x", b"400"),  # not a request target: refused by the server
])
def test_hostile_targets_reach_only_the_upstream(rig: BridgeRig, target: bytes, expected: bytes) -> None:
    rig.legacy.reset()
    evil = rig.evil.authority.encode()
    line = target.replace(b"{evil}", evil)
    answer = raw_request(rig.port, b"GET " + line + b" HTTP/1.1\r\nHost: " + evil + b"\r\nConnection: close\r\n\r\n")
    status = answer.split(b" ", 2)[1] if answer else b"(none)"
    assert status == expected, answer[:300]
    seen = rig.legacy.requests()
    if status == b"200":  # forwarded: to the upstream, with the upstream's Host
        assert len(seen) == 1
        assert dict(seen[0]["headers"])["host"] == f"127.0.0.1:{rig.legacy.port}"
    else:  # refused by the server or the bridge: nowhere
        assert seen == []
    assert rig.evil.connections == 0, rig.evil.received


def test_no_upstream_means_no_bridge(tmp_path: Path) -> None:
    """Without SEAWALL_LEGACY_UPSTREAM nothing of the bridge is installed."""
    from seawall.app import create_app
    from seawall.config import Settings
    from seawall.legacy.bridge import LegacyBridgeMiddleware

    app = create_app(Settings(var_dir=tmp_path))
    assert all(m.cls is not LegacyBridgeMiddleware for m in app.user_middleware)
    with_upstream = create_app(Settings(var_dir=tmp_path, legacy_upstream="http://127.0.0.1:1"))
    assert any(m.cls is LegacyBridgeMiddleware for m in with_upstream.user_middleware)
