"""The durable job engine: outbox (enqueue), worker (claim, lease, fencing), retry policy, dead letters.

It imports no domain. See `worker.py` for the guarantees.
"""

from seawall.jobs.context import ClaimedJob, JobContext
from seawall.jobs.errors import (
    DeferJobError,
    JobError,
    LeaseLostError,
    PermanentJobError,
    RetryableJobError,
    UnknownJobKindError,
)
from seawall.jobs.models import AttemptOutcome, Job, JobAttempt, JobStatus
from seawall.jobs.outbox import enqueue
from seawall.jobs.registry import JobKind, JobRegistry, job_handler, load_job_modules, registry
from seawall.jobs.retry import RetryPolicy

__all__ = [
    "AttemptOutcome",
    "ClaimedJob",
    "DeferJobError",
    "Job",
    "JobAttempt",
    "JobContext",
    "JobError",
    "JobKind",
    "JobRegistry",
    "JobStatus",
    "LeaseLostError",
    "PermanentJobError",
    "RetryPolicy",
    "RetryableJobError",
    "UnknownJobKindError",
    "enqueue",
    "job_handler",
    "load_job_modules",
    "registry",
]
