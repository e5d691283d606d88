"""Promise: several named operator keys are valid at once, each with a scope: `read` may call the GET
admin routes and gets 403 (the one error shape) on a mutating one, `operate` may call all; adding a
key and then removing the old one rotates without a moment where no key works; `SEAWALL_ADMIN_API_KEY`
keeps working as the key `admin` (operate); with no key configured the admin API is absent (404);
every call made with a key is audited with the key's name, scope, route, outcome, request id and IP."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from seawall.runtime import Runtime
from tests.conftest import ADMIN_KEY
from tests.integration.accounts.wire import assert_error
from tests.integration.admin.operators import as_operator, audit_events, keys_setting, operator_key
from tests.integration.jobs.harness import enqueue_effect, in_process_worker, require_job
from tests.support.apps import StartApp, asgi_client

ADMIN = as_operator(ADMIN_KEY)


async def dead_job(runtime: Runtime) -> int:
    job = await enqueue_effect(runtime.database, {"permanent": True})
    await in_process_worker(runtime.database, runtime.settings).run_until_idle()
    assert (await require_job(runtime.database, job.id)).status == "dead"
    return job.id


async def test_read_keys_read_and_operate_keys_also_act(started_app: StartApp, runtime: Runtime) -> None:
    reader, reader_entry = operator_key("dashboards", "read")
    operator, operator_entry = operator_key("oncall", "operate")
    app = await started_app(operator_keys=keys_setting(reader_entry, operator_entry), admin_api_key=None)
    job_id = await dead_job(runtime)
    async with asgi_client(app) as http:
        for key in (reader, operator):
            for path in ("/admin/jobs", f"/admin/jobs/{job_id}", "/admin/jobs/stats", "/admin/providers",
                         "/admin/audit-events"):
                response = await http.get(path, headers=as_operator(key))
                assert response.status_code == 200, (path, response.text)

        refused = await http.post(f"/admin/jobs/{job_id}/replay", headers=as_operator(reader))
        error = assert_error(refused, 403, "forbidden")
        assert "dashboards" in error["message"] and reader not in refused.text
        assert (await require_job(runtime.database, job_id)).status == "dead"

        replayed = await http.post(f"/admin/jobs/{job_id}/replay", headers=as_operator(operator))
        assert replayed.status_code == 200, replayed.text
        assert (await require_job(runtime.database, job_id)).status == "queued"

        assert_error(await http.get("/admin/jobs", headers=ADMIN), 401, "unauthorized")  # admin key not set here


async def test_two_keys_overlap_during_rotation_and_the_removed_key_is_refused(
    started_app: StartApp, runtime: Runtime
) -> None:
    old, old_entry = operator_key("ci-2026-10", "operate")
    new, new_entry = operator_key("ci-2026-11", "operate")
    before = await started_app(operator_keys=keys_setting(old_entry), admin_api_key=None)
    during = await started_app(operator_keys=keys_setting(old_entry, new_entry), admin_api_key=None)
    after = await started_app(operator_keys=keys_setting(new_entry), admin_api_key=None)

    async def status(app: FastAPI, key: str) -> int:
        async with asgi_client(app) as http:
            return (await http.get("/admin/jobs", headers=as_operator(key))).status_code

    # Processes on the old and the new configuration serve side by side during a rolling deploy.
    assert [await status(before, old), await status(before, new)] == [200, 401]
    assert [await status(during, old), await status(during, new)] == [200, 200]
    assert [await status(after, old), await status(after, new)] == [401, 200]

    async with asgi_client(after) as http:
        refused = await http.post(f"/admin/jobs/{await dead_job(runtime)}/replay", headers=as_operator(old))
        assert_error(refused, 401, "unauthorized")
        assert old not in refused.text
        events = await audit_events(http, key=new)
    refusals = [(e["route"], e["actor"], e["outcome"]) for e in events if e["action"] == "operator.key_refused"]
    assert sorted(refusals) == [("GET /admin/jobs", None, "unauthorized")] * 2 + [
        ("POST /admin/jobs/{job_id}/replay", None, "unauthorized")]
    used = {(e["actor"], e["outcome"]) for e in events if e["action"] == "operator.list_jobs"}
    assert ("ci-2026-11", "ok") in used and ("ci-2026-10", "ok") in used


async def test_the_admin_api_key_is_the_operate_key_named_admin_next_to_named_keys(
    started_app: StartApp, runtime: Runtime
) -> None:
    reader, reader_entry = operator_key("readonly", "read")
    app = await started_app(operator_keys=keys_setting(reader_entry))  # the suite's ADMIN_KEY stays set
    job_id = await dead_job(runtime)
    async with asgi_client(app) as http:
        assert (await http.post(f"/admin/jobs/{job_id}/replay", headers=ADMIN)).status_code == 200
        assert (await http.get("/admin/jobs", headers=as_operator(reader))).status_code == 200
        [replay] = await audit_events(http, action="operator.replay_job")
    assert (replay["actor"], replay["scope"], replay["outcome"]) == ("admin", "operate", "ok")
    assert replay["details"] == {"job_id": str(job_id)}


async def test_with_no_key_at_all_the_admin_api_is_absent(started_app: StartApp) -> None:
    key, _ = operator_key("unused", "operate")
    app = await started_app(operator_keys=None, admin_api_key=None)
    async with asgi_client(app) as http:
        for path in ("/admin/jobs", "/admin/audit-events"):
            assert_error(await http.get(path, headers=as_operator(key)), 404, "not_found")
        assert_error(await http.post("/admin/jobs/1/replay", headers=ADMIN), 404, "not_found")


async def test_every_keyed_call_is_audited_with_its_outcome_request_id_and_client(
    started_app: StartApp, runtime: Runtime
) -> None:
    reader, reader_entry = operator_key("auditor", "read")
    app = await started_app(operator_keys=keys_setting(reader_entry))
    job_id = await dead_job(runtime)
    async with asgi_client(app, ip="198.51.100.23") as http:
        forbidden = await http.post(f"/admin/jobs/{job_id}/replay", headers={**as_operator(reader),
                                                                             "X-Request-ID": "req-forbidden-1"})
        assert forbidden.status_code == 403
        missing = await http.get("/admin/jobs/999999", headers=as_operator(reader))
        assert missing.status_code == 404
        replayed = await http.post(f"/admin/jobs/{job_id}/replay", headers=ADMIN)
        conflict = await http.post(f"/admin/jobs/{job_id}/replay", headers=ADMIN)  # no longer dead
        assert (replayed.status_code, conflict.status_code) == (200, 409)
        events = await audit_events(http, key=reader)

    by_request = {e["request_id"]: e for e in events}
    refused = by_request["req-forbidden-1"]
    assert (refused["action"], refused["actor"], refused["scope"], refused["outcome"]) == (
        "operator.replay_job", "auditor", "read", "forbidden")
    assert refused["client_ip"] == "198.51.100.23" and refused["actor_type"] == "operator"
    assert by_request[missing.headers["x-request-id"]]["outcome"].endswith("not_found")
    assert by_request[replayed.headers["x-request-id"]]["outcome"] == "ok"
    assert by_request[conflict.headers["x-request-id"]]["outcome"] not in ("ok", "forbidden")
    # Newest first, and a page cursor walks the whole log without repeats.
    stamps = [(e["created_at"], e["id"]) for e in events]
    assert stamps == sorted(stamps, reverse=True) and len(set(stamps)) == len(stamps)


async def test_the_audit_log_pages_by_keyset_and_refuses_a_foreign_cursor(
    client: httpx.AsyncClient
) -> None:
    for _ in range(5):
        assert (await client.get("/admin/jobs/stats", headers=ADMIN)).status_code == 200
    everything = await audit_events(client, action="operator.job_stats")
    assert len(everything) == 5
    paged = await audit_events(client, action="operator.job_stats", limit=2)
    assert [e["id"] for e in paged] == [e["id"] for e in everything]
    bad = await client.get("/admin/audit-events", params={"cursor": "bm90LWEtY3Vyc29y"}, headers=ADMIN)
    assert_error(bad, 400, "bad_request")


async def test_each_named_key_spends_its_own_operator_quota(started_app: StartApp) -> None:
    first, first_entry = operator_key("first", "read")
    second, second_entry = operator_key("second", "read")
    app = await started_app(operator_keys=keys_setting(first_entry, second_entry), rate_limit_per_api_key="2/minute")
    async with asgi_client(app) as http:
        spent = [(await http.get("/admin/jobs/stats", headers=as_operator(first))).status_code for _ in range(3)]
        assert spent == [200, 200, 429]
        assert (await http.get("/admin/jobs/stats", headers=as_operator(second))).status_code == 200
