"""Healthy database connections: for job code, and for the runtime's own loops.

Job threads follow Django's request discipline around every job (``close_old_connections``
before and after, so ``CONN_MAX_AGE`` and ``CONN_HEALTH_CHECKS`` are honoured) and, without
a query, also drop a connection before a job when it is known or seen to be dead:

- the runtime's own connections (producers, listener, housekeeping) bump a process-wide
  *generation* when they find their connection broken (a restart or failover breaks every
  connection at once), and a job thread closes its connections when the generation moved;
- a connection whose socket is readable while idle has been closed by the server (after
  ``pg_terminate_backend`` or a shutdown the server sends its goodbye and closes), which a
  zero-timeout ``select`` sees at the cost of a system call.

The runtime's loops reconnect with exponential backoff and log one warning per outage and
one line when the database is back (``Reconnection``).
"""

from __future__ import annotations

import logging
import select
import threading
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.signals import connection_created

logger = logging.getLogger("django_oban.worker")

#: Seconds before the first reconnection attempt of a runtime loop after a database error.
RECONNECT_DELAY = 0.5
#: Longest wait between two reconnection attempts, in seconds: after a restart of
#: PostgreSQL the runtime is back within this long of the database.
MAX_RECONNECT_DELAY = 4.0

_generation = 0
_generation_lock = threading.Lock()


def generation() -> int:
    """How many times a runtime connection was found broken in this process."""
    return _generation


def connection_broke() -> None:
    """Record that a runtime connection broke: job threads drop theirs before their next job."""
    global _generation
    with _generation_lock:
        _generation += 1


def close_connection() -> None:
    """Drop this thread's default database connection so that the next query reconnects."""
    try:
        connection.close()
    except Exception:
        logger.debug("closing a broken connection failed", exc_info=True)


class JobConnections:
    """The connection discipline of one job thread, called around each job.

    What ``close_old_connections`` does at the start and end of a request, done only in
    threads that have opened a connection (looking up a thread's connections costs more
    than a no-op job), plus dropping connections known or seen to be dead before a job.
    """

    def __init__(self) -> None:
        self.seen = generation()
        #: This thread's default connection (looked up once: each lookup goes through a thread-local).
        self.default = connections[DEFAULT_DB_ALIAS]

    def before_job(self) -> None:
        """Drop connections that are old, unusable, or known or seen to be dead."""
        current = generation()
        moved, self.seen = current != self.seen, current
        # A default connection whose setup failed half-way is kept by Django without
        # ``connection_created``: it counts too.
        if not getattr(_thread, "connected", False) and self.default.connection is None:
            return
        try:
            for wrapper in connections.all(initialized_only=True):
                idle = wrapper.connection is not None and not wrapper.in_atomic_block
                if idle and (moved or _closed_by_server(wrapper)):
                    _close(wrapper)
                else:
                    wrapper.close_if_unusable_or_obsolete()
        except Exception:
            logger.debug("checking a job thread's connections failed", exc_info=True)

    def after_job(self) -> None:
        """As at the end of a request: close connections past ``CONN_MAX_AGE`` or with errors."""
        if not getattr(_thread, "connected", False):
            return  # a connection half set up during the job is dropped by the next before_job
        try:
            wrappers = connections.all(initialized_only=True)
            for wrapper in wrappers:
                wrapper.close_if_unusable_or_obsolete()
            _thread.connected = any(wrapper.connection is not None for wrapper in wrappers)
        except Exception:
            logger.debug("closing a job thread's old connections failed", exc_info=True)


_thread = threading.local()


def _note_connection(sender: Any, **kwargs: Any) -> None:
    """``connection_created`` receiver: this thread has a connection to look after."""
    _thread.connected = True


connection_created.connect(_note_connection, dispatch_uid="django_oban.runtime.health")


def _closed_by_server(wrapper: Any) -> bool:
    """Whether an idle PostgreSQL connection has data waiting (the server said goodbye)."""
    if wrapper.vendor != "postgresql":
        return False
    try:
        readable, _, _ = select.select([wrapper.connection.fileno()], [], [], 0)
    except Exception:  # noqa: BLE001 - no usable socket (psycopg raises its own error for a lost one)
        return True
    return bool(readable)


def _close(wrapper: Any) -> None:
    try:
        wrapper.close()
    except Exception:
        logger.debug("closing a broken connection failed", exc_info=True)


class Reconnection:
    """The reconnection state of one runtime loop: backoff between attempts, logged once per outage."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.failures = 0

    def failed(self, exc: BaseException) -> float:
        """Record a failed attempt (closing this thread's connection); the seconds to wait."""
        if self.failures == 0:
            logger.warning(
                "%s failed (%s: %s); retrying until the database is back", self.what, type(exc).__name__, exc
            )
        logger.debug("%s failed", self.what, exc_info=exc)
        self.failures += 1
        connection_broke()
        close_connection()
        doublings = min(self.failures - 1, 16)  # however long the outage, no float overflow
        return min(RECONNECT_DELAY * 2.0**doublings, MAX_RECONNECT_DELAY)

    def succeeded(self) -> None:
        """Record a successful attempt; logs that the loop is back after an outage."""
        if self.failures:
            logger.info("%s works again after %d failed attempts", self.what, self.failures)
            self.failures = 0
