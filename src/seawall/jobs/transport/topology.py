"""What the broker transport declares, and with which arguments.

For each Seawall queue `q` (names start with `broker_queue_prefix`, `p`):
- `p + q`: a durable **quorum** queue (replicated, Raft-confirmed publishes) that workers consume.
  Messages are published to it through the default exchange with `mandatory`, so a missing queue
  is reported back (a return) instead of dropping the message.
- `x-delivery-limit` is set explicitly: a message delivered and returned more often than that (a
  consumer that keeps crashing or rejecting it) is dead-lettered, not redelivered forever.
- Dead-lettering is `at-least-once` (RabbitMQ's default is at-most-once: a message can be lost if the
  dead-letter queue is unavailable at that moment). At-least-once requires `x-overflow=reject-publish`.
- `p + "dead-letter"` is a direct exchange; `p + q + ".dead"` the quorum queue bound to it with
  routing key `p + q`, where the poison messages of `q` wait for an operator.

Every process must declare these with the same arguments: RabbitMQ refuses a redeclaration that
differs (PRECONDITION_FAILED), so the delivery limit is a deployment-wide setting.
"""

from __future__ import annotations

from typing import Any

from aio_pika.abc import AbstractChannel, AbstractQueue, ExchangeType

from seawall.config import Settings


def queue_name(settings: Settings, queue: str) -> str:
    return f"{settings.broker_queue_prefix}{queue}"


def dead_letter_queue_name(settings: Settings, queue: str) -> str:
    return f"{settings.broker_queue_prefix}{queue}.dead"


def dead_letter_exchange_name(settings: Settings) -> str:
    return f"{settings.broker_queue_prefix}dead-letter"


def queue_arguments(settings: Settings, queue: str) -> dict[str, Any]:
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": settings.broker_delivery_limit,
        "x-dead-letter-exchange": dead_letter_exchange_name(settings),
        "x-dead-letter-routing-key": queue_name(settings, queue),
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


DEAD_LETTER_ARGUMENTS: dict[str, Any] = {"x-queue-type": "quorum"}


async def declare(channel: AbstractChannel, settings: Settings, queues: list[str]) -> dict[str, AbstractQueue]:
    """Declare (idempotently) the dead-letter exchange and, per queue, its work and dead-letter queues."""
    exchange = await channel.declare_exchange(dead_letter_exchange_name(settings), ExchangeType.DIRECT, durable=True)
    for queue in queues:
        dead = await channel.declare_queue(dead_letter_queue_name(settings, queue), durable=True,
                                           arguments=DEAD_LETTER_ARGUMENTS)
        await dead.bind(exchange, routing_key=queue_name(settings, queue))
    return await declare_work_queues(channel, settings, queues)


async def declare_work_queues(channel: AbstractChannel, settings: Settings, queues: list[str]
                              ) -> dict[str, AbstractQueue]:
    """Only the work queues (a consuming channel, once `declare` has run on another channel)."""
    return {queue: await channel.declare_queue(queue_name(settings, queue), durable=True,
                                               arguments=queue_arguments(settings, queue))
            for queue in queues}
