"""Database work from async code (sockets), in parallel on a bounded pool of threads.

Channels' ``database_sync_to_async`` runs every call on one thread per process (asgiref's
thread-sensitive mode): one socket's slow query queues every other socket's handshake and
message behind it. Here calls run on ``DB_THREADS`` threads, and each borrows a connection from
the process's psycopg pool for the call only (settings.DATABASES, ``OPTIONS["pool"]``), so the
pool is sized with the threads.

Rules this relies on: a function passed here is synchronous and does its whole transaction
inside the call (a transaction never spans an ``await``); it takes no lock held across calls;
and code that needs to run on one particular thread does not come here.
"""
from concurrent.futures import ThreadPoolExecutor

from channels.db import DatabaseSyncToAsync
from django.conf import settings

_executor: ThreadPoolExecutor | None = None


def executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=settings.DB_THREADS, thread_name_prefix="fiko-db")
    return _executor


class _PooledDatabaseSyncToAsync(DatabaseSyncToAsync):
    def __init__(self, func):
        super().__init__(func, thread_sensitive=False, executor=executor())


def database_sync_to_async(func):
    """Like ``channels.db.database_sync_to_async`` (connections closed — returned to the
    pool — after each call), but on the bounded DB thread pool. Usable as a decorator."""
    return _PooledDatabaseSyncToAsync(func)
