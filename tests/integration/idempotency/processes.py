"""Helpers for idempotency tests against real `seawall` processes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx


def count_users(var_dir: Path, email: str | None = None) -> int:
    """Read the embedded database directly (WAL: safe beside a running server)."""
    with sqlite3.connect(var_dir / "seawall.db", timeout=30) as connection:
        if email is None:
            row = connection.execute("SELECT count(*) FROM users").fetchone()
        else:
            row = connection.execute("SELECT count(*) FROM users WHERE email = ?", (email,)).fetchone()
    return int(row[0])


def post_signup(base_url: str, *, key: str, email: str, password: str, timeout: float = 60.0) -> httpx.Response:
    with httpx.Client(base_url=base_url, timeout=timeout) as http:
        return http.post("/v1/signups", json={"email": email, "password": password},
                         headers={"Idempotency-Key": key})


def log_in(base_url: str, *, email: str, password: str) -> httpx.Response:
    with httpx.Client(base_url=base_url, timeout=60.0) as http:
        return http.post("/v1/sessions", json={"email": email, "password": password})


def stored_keys(var_dir: Path) -> list[str]:
    database = var_dir / "seawall.db"
    if not database.exists():
        return []
    with sqlite3.connect(database, timeout=30) as connection:
        try:
            rows = connection.execute("SELECT key FROM idempotency_records").fetchall()
        except sqlite3.OperationalError:  # schema not there yet
            return []
    return [str(row[0]) for row in rows]
