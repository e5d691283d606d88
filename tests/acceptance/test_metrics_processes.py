"""Promise 8 across processes: one scrape of `seawall api --workers 2` adds up both serving processes
(prometheus-client's multiprocess mode) — requests and rate-limit rejections — whichever answers it;
with `SEAWALL_METRICS_PORT` the API has no /metrics route and the port serves every process without a
key, and a `seawall worker` serves its own port. One backend each: the processes, not the database,
are the subject.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict

from tests.acceptance.test_serving import serving_processes
from tests.conftest import ADMIN_KEY
from tests.integration.accounts.wire import bearer
from tests.support.metrics import sample
from tests.support.server import SeawallProcess, ServerFactory, free_port

LIVEZ = {"route": "/livez", "method": "GET", "status": "200"}


def livez_in_file(directory: Path, pid: int) -> float:
    """The /livez count one process wrote to its file in the multiprocess directory."""
    path = directory / f"counter_{pid}.db"
    if not path.exists():
        return 0.0
    return sum(value for key, value, _timestamp, _position in MmapedDict.read_all_values_from_file(str(path))
               if key.startswith('["seawall_http_requests", "seawall_http_requests_total"') and '"/livez"' in key)


def send_livez(base_url: str, count: int) -> None:
    """`count` requests, each on a new connection, 8 at a time (so both processes accept some)."""
    def one(_: int) -> None:
        assert httpx.get(f"{base_url}/livez", headers={"Connection": "close"}, timeout=30).status_code == 200

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, range(count)))


def start_two_processes(servers: ServerFactory, env: dict[str, str]) -> SeawallProcess:
    api = servers.start("api", args=["--workers", "2"], env=env, wait_ready=False)
    servers.wait_ready(api, timeout=120)  # three interpreters start at once on a possibly busy machine
    return api


def until(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.backends("sqlite")
def test_one_scrape_adds_up_both_api_processes(servers: ServerFactory, var_dir: Path) -> None:
    directory = var_dir / "prometheus-multiproc"
    directory.mkdir()  # the operator's: it exists, empty, before the first process starts
    # Without Redis each process counts its own rate limits: which requests are refused varies, their
    # number as the client saw it is what the scrape must add up to.
    api = start_two_processes(servers, {"PROMETHEUS_MULTIPROC_DIR": str(directory),
                                        "SEAWALL_RATE_LIMIT_PER_IP": "2/minute"})
    children = [process.pid for process in serving_processes(api.process.pid)]
    assert len(children) == 2, api.log()
    sent = 0
    for _ in range(10):  # until each process has answered some (the kernel picks who accepts)
        send_livez(api.base_url, 24)
        sent += 24
        if all(livez_in_file(directory, pid) > 0 for pid in children):
            break
    per_process = [livez_in_file(directory, pid) for pid in children]
    assert all(count > 0 for count in per_process) and sum(per_process) == sent, (per_process, sent)
    with httpx.Client(base_url=api.base_url, timeout=30) as http:
        refused = sum(http.get("/v1/me", headers={"Connection": "close"}).status_code == 429 for _ in range(12))
        assert refused >= 8  # 2 per process (and minute) pass
        for _ in range(6):  # new connections: either process may answer each scrape
            scrape = http.get("/metrics", headers={**bearer(ADMIN_KEY), "Connection": "close"})
            assert scrape.status_code == 200, scrape.text
            assert sample(scrape.text, "seawall_http_requests_total", **LIVEZ) == sent
            assert sample(scrape.text, "seawall_http_request_duration_seconds_count", route="/livez") == sent
            assert sample(scrape.text, "seawall_build_info") == 1  # once, not once per process
            assert sample(scrape.text, "seawall_rate_limit_rejections_total", policy="ip-60s") == refused
            assert sample(scrape.text, "seawall_http_requests_total", route="/v1/me", status="429") == refused
    assert api.stop() == 0, api.log()
    assert directory.is_dir()  # the operator's directory stays; the live gauges of the exited go
    assert not list(directory.glob("gauge_live*"))


@pytest.mark.backends("postgres")  # a worker and two API processes on one SQLite file would take turns
def test_a_metrics_port_serves_every_process_without_a_key(servers: ServerFactory) -> None:
    api_port, worker_port = free_port(), free_port()
    worker = servers.start("worker", env={"SEAWALL_METRICS_PORT": str(worker_port)})  # starts meanwhile
    api = start_two_processes(servers, {"SEAWALL_METRICS_PORT": str(api_port)})
    with httpx.Client(base_url=api.base_url, timeout=30) as http:
        assert http.get("/metrics", headers=bearer(ADMIN_KEY)).status_code == 404  # no route on the API
    # no PROMETHEUS_MULTIPROC_DIR given: `seawall api` made one for its processes
    directories = {process.environ().get("PROMETHEUS_MULTIPROC_DIR") for process in serving_processes(api.process.pid)}
    assert len(directories) == 1 and None not in directories, directories
    own_directory = Path(str(directories.pop()))
    send_livez(api.base_url, 20)
    scrape = httpx.get(f"http://127.0.0.1:{api_port}/metrics", timeout=30)
    assert scrape.status_code == 200, api.log()
    assert sample(scrape.text, "seawall_http_requests_total", **LIVEZ) == 20
    assert sample(scrape.text, "seawall_queue_jobs", queue="default", state="due") == 0  # present, empty

    def worker_scrape() -> str | None:
        try:
            response = httpx.get(f"http://127.0.0.1:{worker_port}/metrics", timeout=5)
        except httpx.HTTPError:
            return None
        return response.text if response.status_code == 200 else None

    assert until(lambda: worker_scrape() is not None), worker.log()
    text = worker_scrape() or ""
    assert sample(text, "seawall_build_info") == 1
    assert "seawall_queue_jobs" in text
    assert sample(text, "seawall_http_requests_total") == 0  # its own target: not the API's requests
    worker.stop()  # (its exit status is the worker tests' subject)
    assert own_directory.is_dir()
    assert api.stop() == 0, api.log()
    assert not own_directory.exists()  # removed with the processes that wrote it
