"""Small shared pieces with no domain knowledge: clock, ids, column types, token hashing."""
