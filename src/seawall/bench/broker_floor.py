"""The RabbitMQ transport's floor: what aio-pika alone costs per message, measured in the bench's run.

Each job that goes through RabbitMQ costs at least one persistent publish with a publisher confirm
(`mandatory`, as the relay publishes), one delivery to a consumer with a prefetch window, and one
ack — all in the worker process, which both relays and consumes. This publishes `messages` such
messages to a quorum queue of its own in the run's vhost (in gathered batches, as the relay does),
consumes and acks them in the same process, and reports the process's CPU time per message and the
rate. No database, no Seawall: the figure is what the library and the protocol cost, so a job's CPU
on this transport cannot fall below it.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aio_pika

BATCH = 100


async def measure(url: str, *, queue: str, messages: int, prefetch: int, timeout: float = 120.0) -> dict[str, float]:
    """Returns `cpu_ms_per_message` (process CPU, publish + confirm + consume + ack) and
    `messages_per_second` (wall clock)."""
    connection = await aio_pika.connect(url)
    try:
        publisher = await connection.channel(publisher_confirms=True)
        consumer = await connection.channel()
        await consumer.set_qos(prefetch_count=prefetch)
        declared = await consumer.declare_queue(queue, durable=True, arguments={"x-queue-type": "quorum"})
        received = 0
        finished = asyncio.Event()

        async def on_message(message: Any) -> None:
            nonlocal received
            json.loads(message.body)
            await message.ack()
            received += 1
            if received >= messages:
                finished.set()

        cpu, wall = time.process_time(), time.perf_counter()
        tag = await declared.consume(on_message)
        for start in range(0, messages, BATCH):
            await asyncio.gather(*(
                publisher.default_exchange.publish(
                    aio_pika.Message(json.dumps({"job_id": n}).encode(), content_type="application/json",
                                     delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key=queue, mandatory=True)
                for n in range(start, min(start + BATCH, messages))
            ))
        await asyncio.wait_for(finished.wait(), timeout)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        await declared.cancel(tag)
        await consumer.queue_delete(queue, if_unused=False, if_empty=False)
    finally:
        await connection.close()
    return {"cpu_ms_per_message": 1000 * cpu / messages, "messages_per_second": messages / wall}
