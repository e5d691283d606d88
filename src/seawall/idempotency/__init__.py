"""Idempotency-Key support for creating POSTs (IETF draft "The Idempotency-Key HTTP Header Field")."""
