"""Promises of the RabbitMQ transport (the `full` backend): the relay publishes every due job whatever
order rows commit in, retries what the broker hands back, and runs safely in several processes; a
message is only a hint (the row decides, and a message for a job with nothing to run is acked and
skipped); poison messages end in the dead-letter queue; and without a reachable broker workers keep
running jobs from the table.

Most tests turn the worker's table sweep off (`NO_SWEEP`), so a job that runs here can only have come
through the broker: the relay's `published_at` mark on its row shows it.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel
from yarl import URL

from seawall.config import Settings, reveal
from seawall.jobs import dead_letters, enqueue, repository
from seawall.jobs.transport import BrokerLink, Relay, broker_health, job_message, topology
from seawall.jobs.worker import Worker
from seawall.runtime import Runtime
from tests.integration.jobs.harness import (
    EFFECT,
    attempt_history,
    enqueue_effect,
    in_process_worker,
    load_job,
    require_job,
    start_worker,
    wait_for_log,
    wait_for_status,
    wait_until,
)
from tests.support.effects import count_effects, effects_of
from tests.support.server import ServerFactory, free_port

NO_SWEEP = {"broker_sweep_interval_seconds": 3600.0}


@pytest.fixture
def broker_runtime(runtime: Runtime, backend: str) -> Runtime:
    if backend != "full":
        pytest.skip("the RabbitMQ transport runs on the full backend")
    return runtime


def without_sweep(settings: Settings, **extra: Any) -> Settings:
    return settings.model_copy(update={**NO_SWEEP, **extra})


@asynccontextmanager
async def broker_channel(settings: Settings) -> AsyncIterator[AbstractChannel]:
    assert settings.broker_url is not None
    connection = await aio_pika.connect(reveal(settings.broker_url))
    try:
        yield await connection.channel()
    finally:
        await connection.close()


async def depth(settings: Settings, name: str) -> int:
    """Ready messages in a queue (delivered but unacked ones are not counted)."""
    async with broker_channel(settings) as channel:
        queue = await channel.declare_queue(name, passive=True)
        return int(queue.declaration_result.message_count or 0)


async def drain_queue(settings: Settings, name: str) -> list[int]:
    """Take (and ack) every message in a queue; return the job ids they carry."""
    ids: list[int] = []
    async with broker_channel(settings) as channel:
        queue = await channel.declare_queue(name, passive=True)
        while (message := await queue.get(no_ack=False, fail=False)) is not None:
            ids.append(json.loads(message.body)["job_id"])
            await message.ack()
    return ids


@asynccontextmanager
async def running(worker: Worker, *, wait_for_broker: bool = True) -> AsyncIterator[Worker]:
    """`worker.run()` in the background (connected to the broker first, unless told not to wait)."""
    task = asyncio.create_task(worker.run())

    async def connected() -> bool:
        if task.done():
            task.result()
        return worker.transport is not None and worker.transport.available

    try:
        if wait_for_broker:
            await wait_until(connected, what="the worker to connect to the broker")
        yield worker
    finally:
        worker.stop()
        await task


async def assert_ran_once_through_the_broker(runtime: Runtime, job_id: int) -> None:
    job = await require_job(runtime.database, job_id)
    assert job.status == "succeeded"
    assert job.published_at is not None, "the job ran without the relay publishing it"
    assert len(await effects_of(runtime.database, job_id)) == 1


# -- the relay ------------------------------------------------------------------------------------------


async def test_relay_publishes_jobs_whose_rows_commit_out_of_id_order(broker_runtime: Runtime) -> None:
    runtime = broker_runtime
    worker = in_process_worker(runtime.database, without_sweep(runtime.settings))
    async with running(worker):
        async with runtime.database.transaction() as slow:
            earlier = await enqueue(slow, EFFECT, {"label": "earlier id, commits last"})
            later = await enqueue_effect(runtime.database, {"label": "later id, commits first"})
            assert earlier.id < later.id
            await wait_for_status(runtime.database, later.id, "succeeded")
            assert await load_job(runtime.database, earlier.id) is None  # not committed yet
        await wait_for_status(runtime.database, earlier.id, "succeeded")

    await assert_ran_once_through_the_broker(runtime, later.id)
    await assert_ran_once_through_the_broker(runtime, earlier.id)


async def test_relay_retries_a_publish_the_broker_returned_as_unroutable(broker_runtime: Runtime) -> None:
    runtime = broker_runtime
    settings = runtime.settings
    work_queue = topology.queue_name(settings, "default")
    link = BrokerLink(settings, ["default"], name="test-relay")
    await link.connect()
    relay = Relay(link, database=runtime.database, settings=settings, queues=["default"], kinds=[EFFECT],
                  clock=runtime.clock)
    try:
        async with broker_channel(settings) as channel:  # the queue disappears behind the relay's back
            await channel.queue_delete(work_queue)
        job = await enqueue_effect(runtime.database)

        for _ in range(10):
            await relay.publish_due()
            if (await require_job(runtime.database, job.id)).published_at is not None:
                break
        assert relay.returned >= 1, "the publish was never returned: the test did not test anything"
        assert (await require_job(runtime.database, job.id)).published_at is not None
        assert await drain_queue(settings, work_queue) == [job.id]
    finally:
        await link.close()


async def test_two_relays_at_once_publish_every_job(broker_runtime: Runtime) -> None:
    runtime = broker_runtime
    settings = runtime.settings.model_copy(update={"broker_relay_batch_size": 25})
    async with runtime.database.transaction() as session:
        job_ids = [(await enqueue(session, EFFECT, {"n": n})).id for n in range(300)]
    links = [BrokerLink(settings, ["default"], name=f"test-relay-{n}") for n in range(2)]
    relays = [Relay(link, database=runtime.database, settings=settings, queues=["default"], kinds=[EFFECT],
                    clock=runtime.clock) for link in links]
    try:
        for link in links:
            await link.connect()

        async def publish_all(relay: Relay) -> None:
            while await relay.publish_due():
                pass

        await asyncio.gather(*(publish_all(relay) for relay in relays))
    finally:
        for link in links:
            await link.close()

    assert all(relay.published > 0 for relay in relays), "the relays did not actually run side by side"
    assert sum(relay.published for relay in relays) >= len(job_ids)
    published = await drain_queue(settings, topology.queue_name(settings, "default"))
    assert set(published) == set(job_ids)  # none lost (a duplicate would be harmless)
    for job_id in job_ids[:: 50]:
        assert (await require_job(runtime.database, job_id)).published_at is not None


async def test_every_requeue_is_published_again_retry_and_replay(broker_runtime: Runtime, tmp_path: Path) -> None:
    runtime = broker_runtime
    provider_down = tmp_path / "provider-down"
    provider_down.touch()
    job = await enqueue_effect(runtime.database, {"fail_while_exists": str(provider_down)}, max_attempts=2)
    worker = in_process_worker(runtime.database, without_sweep(runtime.settings))
    async with running(worker):
        await wait_for_status(runtime.database, job.id, "dead")  # attempt 1 retried, attempt 2 dead
        provider_down.unlink()
        async with runtime.database.transaction() as session:
            await dead_letters.replay(session, job.id, clock=runtime.clock)
        await wait_for_status(runtime.database, job.id, "succeeded")

    assert [a.outcome for a in await attempt_history(runtime.database, job.id)] == ["retry", "dead", "succeeded"]
    await assert_ran_once_through_the_broker(runtime, job.id)


async def test_job_released_at_drain_is_published_again(broker_runtime: Runtime, tmp_path: Path) -> None:
    runtime = broker_runtime
    flag = tmp_path / "hold"
    flag.touch()
    job = await enqueue_effect(runtime.database, {"block_while_exists": str(flag)})
    settings = without_sweep(runtime.settings, job_drain_timeout_seconds=0.1, job_lease_seconds=300)
    async with running(in_process_worker(runtime.database, settings)):
        await wait_for_status(runtime.database, job.id, "running")
    released = await require_job(runtime.database, job.id)
    assert (released.status, released.published_at) == ("queued", None)

    flag.unlink()
    async with running(in_process_worker(runtime.database, settings)):
        await wait_for_status(runtime.database, job.id, "succeeded")
    assert [a.outcome for a in await attempt_history(runtime.database, job.id)] == ["released", "succeeded"]
    await assert_ran_once_through_the_broker(runtime, job.id)


async def test_job_whose_lease_expired_is_published_again_by_the_relay(broker_runtime: Runtime) -> None:
    runtime = broker_runtime
    job = await enqueue_effect(runtime.database)
    async with runtime.database.transaction() as session:  # a worker claims it, then vanishes
        await repository.claim_due(session, queues=["default"], kinds=[EFFECT], limit=1, now=runtime.clock.now(),
                                   lease_seconds=0.001, worker_id="vanished")

    async with running(in_process_worker(runtime.database, without_sweep(runtime.settings))):
        await wait_for_status(runtime.database, job.id, "succeeded")

    history = await attempt_history(runtime.database, job.id)
    assert [(a.worker_id, a.outcome) for a in history][0] == ("vanished", "lease_expired")
    assert [a.outcome for a in history] == ["lease_expired", "succeeded"]
    await assert_ran_once_through_the_broker(runtime, job.id)


# -- the consumer ---------------------------------------------------------------------------------------


async def make_finished(runtime: Runtime) -> int:
    job = await enqueue_effect(runtime.database)
    async with runtime.database.transaction() as session:
        [claimed] = await repository.claim_due(session, queues=["default"], kinds=[EFFECT], limit=1,
                                               now=runtime.clock.now(), lease_seconds=30, worker_id="earlier")
        assert claimed.lease_token is not None
        assert await repository.complete(session, job_id=job.id, lease_token=claimed.lease_token,
                                         now=runtime.clock.now())
    return job.id


async def make_leased_elsewhere(runtime: Runtime) -> int:
    job = await enqueue_effect(runtime.database)
    async with runtime.database.transaction() as session:
        await repository.claim_due(session, queues=["default"], kinds=[EFFECT], limit=1,
                                   now=runtime.clock.now(), lease_seconds=3600, worker_id="elsewhere")
    return job.id


async def make_not_due(runtime: Runtime) -> int:
    return (await enqueue_effect(runtime.database, run_at=runtime.clock.now() + timedelta(hours=1))).id


@pytest.mark.parametrize("make_job", [make_finished, make_leased_elsewhere, make_not_due],
                         ids=["finished", "leased-elsewhere", "not-due"])
async def test_message_for_a_job_with_nothing_to_run_is_acked_and_skipped(
    broker_runtime: Runtime, make_job: Callable[[Runtime], Awaitable[int]]
) -> None:
    runtime = broker_runtime
    job_id = await make_job(runtime)
    before = await require_job(runtime.database, job_id)
    worker = in_process_worker(runtime.database, without_sweep(runtime.settings))
    async with running(worker):
        assert worker.transport is not None
        async with broker_channel(runtime.settings) as channel:
            await channel.default_exchange.publish(job_message(job_id),
                                                   routing_key=topology.queue_name(runtime.settings, "default"))

        async def skipped() -> bool:
            return worker.transport is not None and worker.transport.consumer.skipped >= 1

        await wait_until(skipped, what="the worker to skip the message")

    after = await require_job(runtime.database, job_id)
    assert (after.status, after.attempts, after.lease_token, after.locked_by) == (
        before.status, before.attempts, before.lease_token, before.locked_by)
    assert await count_effects(runtime.database) == 0
    assert await depth(runtime.settings, topology.queue_name(runtime.settings, "default")) == 0  # acked, not requeued


async def test_malformed_message_is_dead_lettered(broker_runtime: Runtime) -> None:
    runtime = broker_runtime
    settings = runtime.settings
    async with running(in_process_worker(runtime.database, without_sweep(settings))):
        async with broker_channel(settings) as channel:
            await channel.default_exchange.publish(aio_pika.Message(b"not a job"),
                                                   routing_key=topology.queue_name(settings, "default"))

        async def dead_lettered() -> bool:
            return await depth(settings, topology.dead_letter_queue_name(settings, "default")) == 1

        await wait_until(dead_lettered, what="the malformed message to reach the dead-letter queue")


async def test_message_redelivered_past_the_delivery_limit_is_dead_lettered(broker_runtime: Runtime) -> None:
    runtime = broker_runtime
    settings = runtime.settings.model_copy(update={"broker_delivery_limit": 2})
    link = BrokerLink(settings, ["default"], name="test-declare")
    await link.connect()  # declares the topology with this delivery limit
    await link.close()
    work_queue = topology.queue_name(settings, "default")
    rejections = 0
    async with broker_channel(settings) as channel:
        await channel.default_exchange.publish(job_message(4242), routing_key=work_queue)
        queue = await channel.declare_queue(work_queue, passive=True)
        # A consumer that fails on the message every time (basic.reject with requeue).
        while (message := await queue.get(no_ack=False, fail=False)) is not None:
            rejections += 1
            assert rejections <= 10, "the message keeps coming back: no delivery limit"
            await message.reject(requeue=True)
    assert rejections >= 2

    async def dead_lettered() -> list[int] | None:
        return await drain_queue(settings, topology.dead_letter_queue_name(settings, "default")) or None

    assert await wait_until(dead_lettered, what="the poison message in the dead-letter queue") == [4242]


def rabbitmq_queues(settings: Settings) -> dict[str, dict[str, Any]]:
    assert settings.broker_url is not None
    vhost = URL(reveal(settings.broker_url)).path.lstrip("/")
    listed = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "type", "arguments",
                             "--formatter", "json"], check=True, capture_output=True, text=True, timeout=60)
    return {queue["name"]: queue for queue in json.loads(listed.stdout)}


async def test_queues_are_quorum_with_explicit_delivery_limit_and_at_least_once_dead_lettering(
    broker_runtime: Runtime,
) -> None:
    settings = broker_runtime.settings
    link = BrokerLink(settings, ["default", "payments"], name="test-declare")
    await link.connect()
    await link.close()

    queues = await asyncio.to_thread(rabbitmq_queues, settings)
    for queue in ("default", "payments"):
        work = queues[topology.queue_name(settings, queue)]
        assert work["type"] == "quorum"
        arguments = {name: value for name, _type, value in work["arguments"]}
        assert arguments["x-delivery-limit"] == settings.broker_delivery_limit
        assert arguments["x-dead-letter-strategy"] == "at-least-once"
        assert arguments["x-overflow"] == "reject-publish"
        assert arguments["x-dead-letter-exchange"] == topology.dead_letter_exchange_name(settings)
        assert queues[topology.dead_letter_queue_name(settings, queue)]["type"] == "quorum"


# -- without a broker -----------------------------------------------------------------------------------


async def test_worker_process_without_a_reachable_broker_runs_jobs_by_polling(
    broker_runtime: Runtime, servers: ServerFactory
) -> None:
    runtime = broker_runtime
    closed = f"amqp://guest:guest@127.0.0.1:{free_port()}/"  # nothing listens there
    worker = start_worker(servers, env={"SEAWALL_BROKER_URL": closed,
                                        "SEAWALL_BROKER_CONNECT_TIMEOUT_SECONDS": "1",
                                        "SEAWALL_BROKER_RECONNECT_INTERVAL_SECONDS": "0.2"})
    await wait_for_log(worker, "jobs.broker_unavailable")

    job = await enqueue_effect(runtime.database)
    done = await wait_for_status(runtime.database, job.id, "succeeded")

    assert done.published_at is None  # claimed from the table
    assert len(await effects_of(runtime.database, job.id)) == 1

    async def retried() -> bool:  # still up, and still trying the broker
        assert worker.process.poll() is None, worker.log()
        return worker.log().count("jobs.broker_unavailable") >= 2

    await wait_until(retried, what="another connection attempt")
    assert worker.stop() == 0, worker.log()


async def test_broker_health_reports_queue_depths_or_the_error(broker_runtime: Runtime) -> None:
    settings = broker_runtime.settings.model_copy(update={"worker_queues": "default,payments"})
    link = BrokerLink(settings, ["default"], name="test-declare")  # "payments" stays undeclared
    await link.connect()
    await link.close()
    async with broker_channel(settings) as channel:
        for n in range(3):
            await channel.default_exchange.publish(job_message(n), routing_key=topology.queue_name(settings, "default"))

    report = await broker_health(settings)

    assert report["ok"] is True
    assert "guest:guest" not in str(report["url"])
    queues = cast(dict[str, Any], report["queues"])
    assert queues["default"]["work"] == {"name": topology.queue_name(settings, "default"), "declared": True,
                                         "messages": 3, "consumers": 0}
    assert queues["default"]["dead_letters"]["messages"] == 0
    assert queues["payments"]["work"]["declared"] is False

    unreachable = settings.model_copy(update={"broker_url": f"amqp://guest:guest@127.0.0.1:{free_port()}/",
                                              "broker_connect_timeout_seconds": 2.0})
    down = await broker_health(unreachable)
    assert down["ok"] is False and down["error"]
