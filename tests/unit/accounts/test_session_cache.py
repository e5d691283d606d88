"""The session cache's bound: an entry lives at most the TTL from the start of the lookup that found
it, never past its session's expiry, is evicted at once by revocations in its process (even one that
races a lookup in flight), holds only successes, and stays within its size."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from seawall.accounts.session_cache import Principal, PrincipalSession, PrincipalUser, SessionCache
from tests.support.fakes import FakeTimer

NOW = datetime(2026, 1, 1, tzinfo=UTC)
START_SECONDS = 1000.0  # the timer's reading when a test begins


def principal(number: int = 1, *, user_id: str = "usr_1", expires_at: datetime | None = None) -> Principal:
    return Principal(
        user=PrincipalUser(id=user_id, email=f"{user_id}@example.com"),
        auth_session=PrincipalSession(id=f"ses_{number}", user_id=user_id, token_digest=f"digest-{number}",
                                      expires_at=expires_at or NOW + timedelta(days=1)),
    )


def cache_with(timer: FakeTimer, *, ttl: float = 5.0, max_entries: int = 100) -> SessionCache:
    return SessionCache(ttl_seconds=ttl, max_entries=max_entries, timer=timer)


def remember(cache: SessionCache, found: Principal) -> None:
    cache.put(found.auth_session.token_digest, found, lookup=cache.begin_lookup())


def test_an_entry_is_served_until_the_ttl_counted_from_the_start_of_its_lookup() -> None:
    timer = FakeTimer(START_SECONDS)
    cache = cache_with(timer, ttl=5.0)
    found = principal()
    lookup = cache.begin_lookup()
    timer.seconds += 1.0  # the database read takes a second
    cache.put("digest-1", found, lookup=lookup)

    timer.seconds += 3.9
    assert cache.get("digest-1", now=NOW) == found
    timer.seconds += 0.1  # 5 s after the lookup started, though only 4 s after the put
    assert cache.get("digest-1", now=NOW) is None


def test_an_entry_never_outlives_its_sessions_expiry() -> None:
    timer = FakeTimer(START_SECONDS)
    cache = cache_with(timer, ttl=60.0)
    expires_at = NOW + timedelta(seconds=2)
    remember(cache, principal(expires_at=expires_at))

    assert cache.get("digest-1", now=expires_at - timedelta(microseconds=1)) is not None
    assert cache.get("digest-1", now=expires_at) is None
    assert len(cache) == 0


def test_an_entry_is_not_served_once_its_sessions_use_is_due_to_be_recorded() -> None:
    """The idle timeout: past `refresh_at` the lookup goes to the database, which records the use (a
    session kept busy through the cache is not left looking idle) or finds the session idle."""
    cache = cache_with(FakeTimer(START_SECONDS), ttl=300.0)
    found = principal()
    refresh_at = NOW + timedelta(seconds=75)
    remember(cache, replace(found, auth_session=replace(found.auth_session, refresh_at=refresh_at)))

    assert cache.get("digest-1", now=refresh_at - timedelta(microseconds=1)) is not None
    assert cache.get("digest-1", now=refresh_at) is None
    assert len(cache) == 0


def test_eviction_by_session_and_by_user_is_immediate() -> None:
    cache = cache_with(FakeTimer(START_SECONDS))
    remember(cache, principal(1, user_id="usr_a"))
    remember(cache, principal(2, user_id="usr_a"))
    remember(cache, principal(3, user_id="usr_b"))

    cache.evict(token_digests=["digest-1"])
    assert cache.get("digest-1", now=NOW) is None
    assert cache.get("digest-2", now=NOW) is not None

    cache.evict(user_ids=["usr_a"])
    assert cache.get("digest-2", now=NOW) is None
    assert cache.get("digest-3", now=NOW) is not None


def test_a_lookup_in_flight_during_an_eviction_is_not_stored() -> None:
    cache = cache_with(FakeTimer(START_SECONDS))
    lookup = cache.begin_lookup()  # read the session while it was still live...
    cache.evict(token_digests=["digest-1"])  # ...then its logout committed
    cache.put("digest-1", principal(), lookup=lookup)
    assert cache.get("digest-1", now=NOW) is None

    remember(cache, principal())  # a lookup that starts afterwards is stored as usual
    assert cache.get("digest-1", now=NOW) is not None


def test_the_cache_holds_at_most_max_entries_dropping_the_least_recently_used() -> None:
    cache = cache_with(FakeTimer(START_SECONDS), max_entries=2)
    remember(cache, principal(1))
    remember(cache, principal(2))
    assert cache.get("digest-1", now=NOW) is not None  # digest-2 is now the least recently used
    remember(cache, principal(3))

    assert len(cache) == 2
    assert cache.get("digest-2", now=NOW) is None
    assert cache.get("digest-1", now=NOW) is not None
    assert cache.get("digest-3", now=NOW) is not None


def test_a_zero_ttl_caches_nothing() -> None:
    cache = cache_with(FakeTimer(START_SECONDS), ttl=0)
    remember(cache, principal())
    assert not cache.enabled
    assert len(cache) == 0
    assert cache.get("digest-1", now=NOW) is None
