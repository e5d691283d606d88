"""Small shared pieces with no domain knowledge: clock, ids, column types, token hashing, the
repository base (`get` by id, keyset pages), cursor pagination and transition tables.

Kit imports nothing of Seawall outside `kit` (SQLAlchemy is fine): errors it must raise are either
its own (`pagination.InvalidCursorError`, translated at the HTTP edge) or passed in by the domain
(`transitions.Transitions(error=...)`).
"""
