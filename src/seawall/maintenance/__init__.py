"""Routine checks and retention (issue 14): periodic jobs on the `maintenance` queue that reconcile
payments with the provider, check the ledger, and purge what has outlived its retention, each run
recorded in `routine_runs` (shown by `seawall doctor`) and counted in the `seawall_routine_*` and
`seawall_retention_*` metrics.

Modules: `retention` (what is kept how long, and the bounded purge), `checks` (the ledger check, a
run's record, what doctor reads), `tasks` (the job handlers), `repository` (the queries), `models`.
"""
