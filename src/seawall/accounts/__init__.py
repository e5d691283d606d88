"""Accounts: sign-up, sessions (bearer tokens), password resets."""
