"""Payments: charges and refunds through a Stripe-compatible provider, exactly once, with a
double-entry ledger."""
