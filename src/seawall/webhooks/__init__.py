"""Outbound webhooks (Standard Webhooks): endpoints, events, signed deliveries with a published
retry schedule, per-endpoint slow-down, automatic disabling, manual replay and recovery.

Other domains publish with `service.publish_event(session, ...)` inside their own transaction;
`tasks.py` delivers. See `tasks.py` for the delivery contract and `ssrf.py` for the URL guard.
"""
