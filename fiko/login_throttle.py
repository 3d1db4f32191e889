"""Login throttling against password guessing (staff and customer login endpoints).

At most ``MAX_FAILURES`` failed logins per window (a minute) per account and per client IP.
Once either counter is full, every attempt for that account or from that IP is refused with
429 and ``Retry-After`` *before* the password is checked, so a correct guess during the block
tells the guesser nothing. A successful login clears the account's counter (not the IP's).

Counters live in Django's cache: Redis when ``REDIS_URL`` is set (every server process counts
the same failures), a per-process memory cache otherwise. A window starts at its first
failure and ends ``window`` seconds later (fixed window).

Without Redis, login keeps working: when the shared cache cannot be reached the counters fall
back to a per-process memory cache (logged), so guessing is still throttled per process and
nobody is locked out of signing in by an outage.
"""
import hashlib
import logging
import math
import time

from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache

from fiko.outage import is_outage

from fiko.errors import ErrorCode, FikoError

MAX_FAILURES = 5

log = logging.getLogger(__name__)
_process_cache = LocMemCache("fiko-login-throttle", {})


def _counters(operation):
    """``operation(cache)`` on the shared cache, or on this process's own one while the shared
    one is unreachable (fails open to a per-process counter)."""
    try:
        return operation(cache)
    except Exception as exc:
        if not is_outage(exc):
            raise
        log.warning("login throttle: shared cache unavailable (%s); counting in this process",
                    type(exc).__name__)
        return operation(_process_cache)


def window_seconds() -> int:
    return int(getattr(settings, "LOGIN_FAILURE_WINDOW_SECONDS", 60))


class LoginThrottled(FikoError):
    def __init__(self, retry_after: int):
        super().__init__(
            ErrorCode.RATE_LIMITED,
            f"Too many failed login attempts: try again in {retry_after} seconds",
            retry_after=retry_after,
        )


def _scopes(*, account_key: str | None, ip: str | None) -> list[str]:
    scopes = []
    if account_key:
        scopes.append(f"account:{account_key}")
    if ip:
        scopes.append(f"ip:{ip}")
    return scopes


def _keys(scope: str) -> tuple[str, str]:
    # Hashed: a scope holds what the client typed (any length, any characters).
    digest = hashlib.sha256(scope.encode("utf-8", "surrogatepass")).hexdigest()
    return f"login-fail:{digest}", f"login-fail:{digest}:since"


def login_check_allowed(*, account_key: str | None, ip: str | None) -> None:
    """Raise LoginThrottled when the account or the IP has used up its failures."""
    for scope in _scopes(account_key=account_key, ip=ip):
        count_key, since_key = _keys(scope)
        values = _counters(lambda counters: counters.get_many([count_key, since_key]))
        if values.get(count_key, 0) >= MAX_FAILURES:
            since = values.get(since_key) or time.time()
            raise LoginThrottled(max(1, math.ceil(since + window_seconds() - time.time())))


def login_record_failure(*, account_key: str | None, ip: str | None) -> None:
    window = window_seconds()
    for scope in _scopes(account_key=account_key, ip=ip):
        _counters(lambda counters: _count_failure(counters, *_keys(scope), window))


def _count_failure(counters, count_key: str, since_key: str, window: int) -> None:
    if counters.add(count_key, 1, window):  # first failure of a new window
        counters.set(since_key, time.time(), window)
        return
    try:
        counters.incr(count_key)  # atomic on Redis; keeps the key's expiry
    except ValueError:  # the window ended between add() and incr()
        counters.set(count_key, 1, window)
        counters.set(since_key, time.time(), window)


def login_record_success(*, account_key: str | None) -> None:
    if account_key:
        keys = list(_keys(f"account:{account_key}"))
        _counters(lambda counters: counters.delete_many(keys))


def client_ip(request) -> str:
    """The peer address as the server saw it (Daphne/uvicorn apply proxy headers only when
    started with --proxy-headers, so a client cannot spoof this by sending X-Forwarded-For)."""
    return request.META.get("REMOTE_ADDR") or "unknown"
