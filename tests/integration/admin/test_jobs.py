"""Promise: operators can see and manage jobs, and only operators: the admin API is absent without a
configured key and refuses a wrong one; the `seawall dlq` CLI lists and purges dead letters."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy import func, select

from seawall.app import create_app
from seawall.config import Settings
from seawall.jobs import JobAttempt
from seawall.runtime import Runtime
from tests.conftest import ADMIN_KEY
from tests.integration.jobs.harness import (
    enqueue_effect,
    in_process_worker,
    load_job,
    require_job,
    run_cli_async,
    run_until_finished,
)

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@asynccontextmanager
async def api_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, run_worker=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://seawall.test") as http:
            yield http


async def make_jobs(runtime: Runtime, *, dead: int, succeeded: int, queued: int) -> dict[str, list[int]]:
    """Interleaved ids, so pagination has to skip other statuses."""
    ids: dict[str, list[int]] = {"dead": [], "succeeded": [], "queued": []}
    for n in range(max(dead, succeeded)):
        if n < dead:
            ids["dead"].append((await enqueue_effect(runtime.database, {"permanent": True})).id)
        if n < succeeded:
            ids["succeeded"].append((await enqueue_effect(runtime.database, {})).id)
    await in_process_worker(runtime.database, runtime.settings).run_until_idle()
    for _ in range(queued):  # on a queue no worker here serves
        ids["queued"].append((await enqueue_effect(runtime.database, {}, queue="elsewhere")).id)
    return ids


@pytest.mark.parametrize("headers", [{}, ADMIN], ids=["no-key", "with-a-key"])
async def test_admin_api_is_absent_when_no_admin_key_is_configured(
    settings: Settings, headers: dict[str, str]
) -> None:
    async with api_client(settings.model_copy(update={"admin_api_key": None})) as http:
        for method, path in [("GET", "/admin/jobs"), ("GET", "/admin/jobs/1"), ("POST", "/admin/jobs/1/replay")]:
            response = await http.request(method, path, headers=headers)
            assert response.status_code == 404, (method, path)
            assert response.json()["error"]["type"] == "not_found"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-key"}, {"Authorization": ADMIN_KEY}],
                         ids=["no-key", "wrong-key", "not-bearer"])
async def test_admin_api_refuses_a_missing_or_wrong_key(
    runtime: Runtime, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    job = await enqueue_effect(runtime.database, {"permanent": True})
    await in_process_worker(runtime.database, runtime.settings).run_until_idle()

    for method, path in [("GET", "/admin/jobs"), ("GET", f"/admin/jobs/{job.id}"),
                         ("POST", f"/admin/jobs/{job.id}/replay")]:
        response = await client.request(method, path, headers=headers)
        assert response.status_code == 401, (method, path)
        assert response.json()["error"]["type"] == "unauthorized"
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert (await require_job(runtime.database, job.id)).status == "dead"


async def test_admin_api_lists_jobs_by_status_with_cursor_pagination(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    ids = await make_jobs(runtime, dead=5, succeeded=4, queued=2)

    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"status": "dead", "limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        response = await client.get("/admin/jobs", params=params, headers=ADMIN)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["data"]) <= 2
        assert all(job["status"] == "dead" for job in page["data"])
        seen += [job["id"] for job in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == sorted(ids["dead"], reverse=True)  # newest first, each exactly once

    everything = (await client.get("/admin/jobs", params={"limit": 200}, headers=ADMIN)).json()
    every_id = sorted(job_id for group in ids.values() for job_id in group)
    assert sorted(job["id"] for job in everything["data"]) == every_id
    assert everything["next_cursor"] is None
    queued = (await client.get("/admin/jobs", params={"status": "queued"}, headers=ADMIN)).json()
    assert [job["id"] for job in queued["data"]] == sorted(ids["queued"], reverse=True)


@pytest.mark.parametrize("params", [{"status": "exploded"}, {"cursor": "abc"}, {"limit": 0}, {"limit": 201}])
async def test_admin_api_rejects_bad_list_parameters(
    client: httpx.AsyncClient, params: dict[str, str | int]
) -> None:
    response = await client.get("/admin/jobs", params=params, headers=ADMIN)
    assert response.status_code in (400, 422)
    assert "error" in response.json()


async def test_admin_api_shows_a_job_with_its_attempt_history(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    job = await enqueue_effect(runtime.database, {"fail_times": 1, "label": "shown"})
    await run_until_finished(runtime.database, runtime.settings, job.id)

    response = await client.get(f"/admin/jobs/{job.id}", headers=ADMIN)

    assert response.status_code == 200
    shown = response.json()
    assert (shown["id"], shown["kind"], shown["status"], shown["attempts"]) == (job.id, "tests.effect", "succeeded", 2)
    assert shown["payload"] == {"fail_times": 1, "label": "shown"}
    assert [(a["attempt"], a["outcome"]) for a in shown["attempt_history"]] == [(1, "retry"), (2, "succeeded")]
    assert "told to fail on attempt 1" in shown["attempt_history"][0]["error"]
    assert all(a["worker_id"] for a in shown["attempt_history"])

    missing = await client.get("/admin/jobs/999999", headers=ADMIN)
    assert missing.status_code == 404


async def test_cli_lists_dead_jobs_as_json(runtime: Runtime) -> None:
    ids = await make_jobs(runtime, dead=3, succeeded=2, queued=0)

    listed = await run_cli_async(runtime.settings, "dlq", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    document = json.loads(listed.stdout)
    assert [job["id"] for job in document["data"]] == sorted(ids["dead"], reverse=True)
    assert all(job["status"] == "dead" and "told to fail permanently" in job["last_error"]
               for job in document["data"])
    assert document["next_cursor"] is None


async def count_attempts(runtime: Runtime, job_ids: list[int]) -> int:
    query = select(func.count()).select_from(JobAttempt).where(JobAttempt.job_id.in_(job_ids))
    async with runtime.database.transaction() as session:
        return int((await session.execute(query)).scalar_one())


async def existing(runtime: Runtime, job_ids: list[int]) -> list[int]:
    return [job_id for job_id in job_ids if await load_job(runtime.database, job_id) is not None]


async def test_cli_purge_deletes_dead_jobs_and_nothing_else(runtime: Runtime) -> None:
    ids = await make_jobs(runtime, dead=3, succeeded=2, queued=1)

    purged = await run_cli_async(runtime.settings, "dlq", "purge", "--yes")

    assert purged.returncode == 0, purged.stderr
    assert "deleted 3 dead jobs" in purged.stdout
    assert await existing(runtime, ids["dead"]) == []
    assert await count_attempts(runtime, ids["dead"]) == 0  # their history goes with them
    others = ids["succeeded"] + ids["queued"]
    assert await existing(runtime, others) == others
