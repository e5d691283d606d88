"""Argon2id password hashing (argon2-cffi), with at least OWASP's minimum parameters.

Defaults: 19 MiB memory, 2 iterations, parallelism 1 (OWASP Password Storage Cheat Sheet); raise
them with `SEAWALL_ARGON2_*`. Hashes made with weaker parameters are upgraded at the next login.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from seawall.config import Settings

T = TypeVar("T")


class Passwords:
    def __init__(self, settings: Settings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            type=Type.ID,
        )
        # Verified against for unknown emails, so they cost the same as known ones.
        self._dummy_hash = self._hasher.hash("seawall-dummy-password-for-constant-work")
        # Hashing takes tens of milliseconds of CPU: off the event loop, on a bounded pool of its own.
        threads = settings.password_hashing_threads or max(1, (os.cpu_count() or 2) - 1)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="seawall-argon2")

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Check a password; with no hash (unknown user) do the same work and answer False."""
        target = password_hash if password_hash is not None else self._dummy_hash
        try:
            await self._run(self._hasher.verify, target, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)
