"""The audit log: operator calls and authentication events, as a table row and a log line.

`record(session, ...)` writes the event inside the caller's transaction: it is kept exactly when the
change it describes commits (a password reset confirmed, a session revoked). `record_apart(database,
...)` writes it in a short transaction of its own, for events that change nothing else or whose
request fails (a login refused, a lockout, every operator call with its outcome).

Both first emit the structured log line `audit.<action>` (info when the outcome is `ok`, warning
otherwise), with the request id and client IP bound by the HTTP edge. Failure policy: the log line
is the record of last resort and is always written. A failed row write in `record` fails the
caller's transaction (no unaudited change); in `record_apart` it is logged at error level as
`audit.write_failed` with the whole event, and the request's answer is unchanged (the operator's
action has already committed; a login refusal stays a refusal). Security events are never lost
silently; a database outage does not turn refusals into 500s.

Never pass a secret in `details`: no password, token, key or signing secret, only names and ids.
"""

from seawall.audit.service import AuditEntry, list_events, record, record_apart

__all__ = ["AuditEntry", "list_events", "record", "record_apart"]
