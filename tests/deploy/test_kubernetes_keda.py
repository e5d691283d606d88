"""The autoscalers react to what Seawall really declares and exports (issue 15, Deliver 3).

- One KEDA ScaledObject per worker Deployment, per queue Seawall has (`SEAWALL_WORKER_QUEUES`'s
  default), each scaling the Deployment that runs that queue, never to zero unless the
  `scale-to-zero` component is added (and then never the maintenance queue, whose worker enqueues
  the periodic jobs).
- Full stack: each RabbitMQ trigger names the queue Seawall declares (`topology.queue_name` with the
  ConfigMap's prefix); each Prometheus query reads series and labels Seawall exports.
- Database transport: each PostgreSQL query runs on a real migrated database, returns one number,
  and follows the jobs as they are enqueued, fall due, run and finish — agreeing with
  `jobs.stats.queue_counts`, which the `seawall_queue_*` series are made from.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text, update

from seawall.config import Settings
from seawall.jobs.models import Job, JobStatus
from seawall.jobs.outbox import enqueue
from seawall.jobs.stats import queue_counts
from seawall.jobs.transport.topology import queue_name
from seawall.kit.clock import SystemClock
from seawall.runtime import Runtime
from tests.deploy import kustomize
from tests.deploy.kustomize import config_map, of_kind, queue_of
from tests.deploy.test_metric_names import unknown_labels, unknown_series

QUEUES = Settings().queue_names
ANY_KIND = "idempotency.purge_expired"  # a registered kind; `queue=` places it on each queue in turn


def _scaled_objects(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """{queue: its ScaledObject}, each checked to scale the Deployment that runs that queue."""
    workers = {item["metadata"]["name"]: item for item in of_kind(objects, "Deployment")
               if item["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == "worker"}
    found: dict[str, dict[str, Any]] = {}
    for scaled in of_kind(objects, "ScaledObject"):
        target = workers[scaled["spec"]["scaleTargetRef"]["name"]]
        queue = queue_of(target)
        assert scaled["metadata"]["labels"]["seawall.io/queue"] == queue
        assert queue not in found, f"two ScaledObjects for {queue}"
        found[queue] = scaled
    assert len(found) == len(workers)
    return found


def _triggers(scaled: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [trigger for trigger in scaled["spec"]["triggers"] if trigger["type"] == kind]


@pytest.mark.parametrize("overlay", kustomize.OVERLAYS)
def test_one_scaled_object_per_queue_never_at_zero_by_default(overlay: str) -> None:
    objects = kustomize.render(f"overlays/{overlay}")
    scaled = _scaled_objects(objects)
    assert sorted(scaled) == sorted(QUEUES)
    for queue, item in scaled.items():
        assert 1 <= item["spec"]["minReplicaCount"] <= item["spec"]["maxReplicaCount"], queue
        assert {trigger["name"] for trigger in item["spec"]["triggers"]} == {"depth", "oldest-age"}, queue
    authentications = {item["metadata"]["name"] for item in of_kind(objects, "TriggerAuthentication")}
    for item in scaled.values():
        for trigger in item["spec"]["triggers"]:
            if "authenticationRef" in trigger:
                assert trigger["authenticationRef"]["name"] in authentications
    for authentication in of_kind(objects, "TriggerAuthentication"):
        for reference in authentication["spec"]["secretTargetRef"]:
            assert reference["name"] == "seawall-keda"


@pytest.mark.parametrize("overlay", kustomize.OVERLAYS)
def test_scale_to_zero_is_a_component_that_spares_the_maintenance_queue(overlay: str) -> None:
    scaled = _scaled_objects(kustomize.render(f"overlays/{overlay}", ("scale-to-zero",)))
    assert {queue: item["spec"]["minReplicaCount"] for queue, item in scaled.items()} == {
        queue: 1 if queue == "maintenance" else 0 for queue in QUEUES}
    for queue, item in scaled.items():  # at zero, the age trigger wakes the queue (nothing relays to the broker)
        (age,) = [trigger for trigger in item["spec"]["triggers"] if trigger["name"] == "oldest-age"]
        activation = age["metadata"].get("activationThreshold") or age["metadata"].get("activationTargetQueryValue")
        assert activation is not None and float(activation) > 0, queue


def test_rabbitmq_triggers_name_the_queues_seawall_declares() -> None:
    objects = kustomize.render("overlays/full")
    prefix = config_map(objects).get("SEAWALL_BROKER_QUEUE_PREFIX", Settings().broker_queue_prefix)
    settings = Settings(broker_queue_prefix=prefix)
    for queue, scaled in _scaled_objects(objects).items():
        (depth,) = _triggers(scaled, "rabbitmq")
        assert depth["metadata"]["queueName"] == queue_name(settings, queue)
        assert depth["metadata"]["protocol"] == "http"  # ready + unacknowledged (AMQP counts ready only)
        assert depth["metadata"]["mode"] == "QueueLength"


def test_prometheus_triggers_read_series_seawall_exports() -> None:
    objects = kustomize.render("overlays/full")
    queries = []
    for queue, scaled in _scaled_objects(objects).items():
        (age,) = _triggers(scaled, "prometheus")
        assert f'queue="{queue}"' in age["metadata"]["query"]
        queries.append((f"ScaledObject {scaled['metadata']['name']}", age["metadata"]["query"]))
    assert unknown_series(queries) == {}
    assert unknown_labels(queries) == {}
    assert unknown_series([("a typo", 'max(seawall_queue_oldest_due_age_second{queue="payments"})')])


def _database_queries() -> dict[str, dict[str, str]]:
    """{queue: {trigger name: SQL}} of the database overlay."""
    scaled = _scaled_objects(kustomize.render("overlays/database"))
    return {queue: {trigger["name"]: trigger["metadata"]["query"] for trigger in _triggers(item, "postgresql")}
            for queue, item in scaled.items()}


async def _scalar(runtime: Runtime, sql: str) -> float:
    async with runtime.database.transaction() as session:
        rows = (await session.execute(text(sql))).all()
    assert len(rows) == 1 and len(rows[0]) == 1, f"KEDA reads one value: {sql}"
    return float(rows[0][0])


async def _counts(runtime: Runtime, queue: str) -> tuple[int, float]:
    """(due + running, oldest due age in seconds) as `jobs.stats` computes them."""
    now = SystemClock().now()
    async with runtime.database.transaction() as session:
        counts = {row.queue: row for row in await queue_counts(session, now=now)}
    row = counts.get(queue)
    if row is None:
        return 0, 0.0
    age = (now - row.oldest_due_at).total_seconds() if row.oldest_due_at is not None else 0.0
    return row.due + row.running, age


@pytest.mark.backends("postgres")
async def test_postgresql_queries_run_and_follow_the_jobs(runtime: Runtime) -> None:
    queries = _database_queries()
    assert sorted(queries) == sorted(QUEUES)
    clock = SystemClock()
    for queue, sql in queries.items():
        assert set(sql) == {"depth", "oldest-age"}
        assert await _scalar(runtime, sql["depth"]) == 0
        assert await _scalar(runtime, sql["oldest-age"]) == 0
        async with runtime.database.transaction() as session:
            due = [await enqueue(session, ANY_KIND, {"n": n}, queue=queue, clock=clock,
                                 run_at=clock.now() - timedelta(seconds=90)) for n in range(3)]
            await enqueue(session, ANY_KIND, {"n": "later"}, queue=queue, clock=clock,
                          run_at=clock.now() + timedelta(hours=1))  # scheduled: not work to scale for
        assert await _scalar(runtime, sql["depth"]) == 3
        age = await _scalar(runtime, sql["oldest-age"])
        assert 90 <= age < 120
        depth, stats_age = await _counts(runtime, queue)
        assert depth == 3 and abs(stats_age - age) < 5
        async with runtime.database.transaction() as session:  # one running, one done: depth counts the running
            await session.execute(update(Job).where(Job.id == due[0].id).values(status=JobStatus.RUNNING))
            await session.execute(update(Job).where(Job.id == due[1].id).values(status=JobStatus.SUCCEEDED))
        assert await _scalar(runtime, sql["depth"]) == 2
        assert (await _counts(runtime, queue))[0] == 2
    for queue, sql in queries.items():  # each query counts its own queue only
        assert await _scalar(runtime, sql["depth"]) == 2, queue
