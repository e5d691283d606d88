"""Seawall: the backend core for accounts, payments, notifications and webhooks.

Every side effect leaves the process through the durable job engine (`seawall.jobs`), so work that
the API accepted survives crashes and runs with the effect of exactly once.
"""

__version__ = "0.1.0"
