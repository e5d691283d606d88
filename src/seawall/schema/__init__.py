"""The database schema across releases: what each migration promises the release before it, the
window of schema revisions a process starts against, and the runs of `seawall migrate`.

- `declarations`: every migration states `compatibility = "expand" | "contract"` and why;
- `history`: the `schema_revisions` table, which carries those statements into the database, where
  a release older than the migration can read them;
- `window`: which schema a process starts against (its head, or one expand revision ahead);
- `rollout`: whether migrating now is safe for a rolling deploy (`seawall migrate --check`);
- `runner`: upgrades and downgrades to a revision (`seawall migrate [--to REV]`).

The Alembic scripts themselves are package data in `seawall/migrations`.
"""
