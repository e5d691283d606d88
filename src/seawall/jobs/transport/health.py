"""`broker_health(settings)`: can this process reach the broker, and how deep are the job queues.

Connects once (bounded by `broker_connect_timeout_seconds`) and declares each configured queue and
its dead-letter queue passively, which reads their depth without creating or changing anything.
`ok` means the broker answered; a queue no worker has declared yet is listed with `declared: false`.
"""

from __future__ import annotations

import aio_pika
from aio_pika.abc import AbstractConnection
from aio_pika.exceptions import ChannelNotFoundEntity

from seawall.config import Settings, reveal
from seawall.jobs.transport import topology
from seawall.kit.urls import redacted_url


async def _depth(connection: AbstractConnection, name: str) -> dict[str, object]:
    channel = await connection.channel(publisher_confirms=False)
    try:
        queue = await channel.declare_queue(name, passive=True)
    except ChannelNotFoundEntity:  # the broker closed this channel; the connection stays
        return {"name": name, "declared": False}
    result = queue.declaration_result
    await channel.close()
    return {"name": name, "declared": True, "messages": result.message_count, "consumers": result.consumer_count}


async def broker_health(settings: Settings) -> dict[str, object]:
    if not settings.broker_url:
        return {"configured": False, "ok": True, "transport": "database (jobs table)"}
    report: dict[str, object] = {"configured": True, "url": redacted_url(reveal(settings.broker_url) or "")}
    try:
        connection = await aio_pika.connect(reveal(settings.broker_url),
                                            timeout=settings.broker_connect_timeout_seconds)
    except Exception as exc:
        report.update(ok=False, error=f"{type(exc).__name__}: {exc}")
        return report
    try:
        queues: dict[str, object] = {}
        for queue in settings.queue_names:
            queues[queue] = {
                "work": await _depth(connection, topology.queue_name(settings, queue)),
                "dead_letters": await _depth(connection, topology.dead_letter_queue_name(settings, queue)),
            }
        report.update(ok=True, queues=queues)
    except Exception as exc:
        report.update(ok=False, error=f"{type(exc).__name__}: {exc}")
    finally:
        await connection.close()
    return report
