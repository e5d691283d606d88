"""The RabbitMQ job transport (server mode, when `broker_url` is set).

The jobs table stays the transactional outbox and the source of truth; the broker only carries job
ids to workers, faster and more evenly than polling:

    enqueue (INSERT, caller's transaction)
      -> relay (in every worker process: due, unpublished rows, SKIP LOCKED; confirms + mandatory)
      -> quorum queue <prefix><queue>  (x-delivery-limit -> <prefix><queue>.dead, at-least-once)
      -> consumer (manual acks, prefetch) -> the worker claims *that* id through the row, runs it as
         always (lease, fencing, retries, dead letters), and acks once the outcome is recorded.

What covers what can go wrong: a message for a job with nothing to run is acked and skipped; every
requeue makes the row publishable again; an expired lease (killed or frozen worker) makes it
publishable again; a broker outage turns workers back to claiming from the table; and a slow sweep
(`broker_sweep_interval_seconds`) claims from the table even while the broker is up, for messages
lost outside our control (a purged queue, a dead-lettered poison message whose job is still due).

Modules: `topology` (names, arguments, declarations), `connection` (the robust connection),
`relay`, `consumer`, `broker` (the three together for a worker), `health` (`broker_health`).
"""

from seawall.jobs.transport.broker import BrokerTransport
from seawall.jobs.transport.connection import BrokerLink
from seawall.jobs.transport.consumer import Consumer, Delivery
from seawall.jobs.transport.health import broker_health
from seawall.jobs.transport.relay import Relay, job_message

__all__ = ["BrokerLink", "BrokerTransport", "Consumer", "Delivery", "Relay", "broker_health", "job_message"]
