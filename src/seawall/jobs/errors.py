"""Errors a job handler raises to steer the engine, and errors the engine raises itself.

    SeawallError
    └── JobError
        ├── RetryableJobError     try again after backoff (optionally not before `retry_after`)
        │   └── DeferJobError     not tried at all (e.g. a bulkhead was full): run again after
        │                         `retry_after` without spending an attempt
        ├── PermanentJobError     never retry: the job goes straight to the dead-letter queue
        ├── LeaseLostError        fencing: this worker no longer owns the job; its writes roll back
        └── UnknownJobKindError   enqueue or claim of a kind with no registered handler

Any other exception from a handler counts as retryable: an error we did not foresee is more often
transient than not, and the attempt limit bounds the cost of being wrong.
"""

from __future__ import annotations

from seawall.errors import SeawallError


class JobError(SeawallError):
    error_type = "job_error"


class RetryableJobError(JobError):
    error_type = "job_retryable"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DeferJobError(RetryableJobError):
    error_type = "job_deferred"


class PermanentJobError(JobError):
    error_type = "job_permanent"


class LeaseLostError(JobError):
    error_type = "job_lease_lost"


class UnknownJobKindError(JobError):
    error_type = "job_kind_unknown"
