"""A hard deadline for long tests, so that CI fails with a stack dump instead of hanging."""

from __future__ import annotations

import faulthandler
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from django.db import connections


class DeadlineExceeded(BaseException):
    """A test ran past its hard deadline (the stacks of every thread were dumped to stderr).

    Not an ``Exception``: Hypothesis must not take it for a failing example and shrink it,
    nor code under test swallow it in an ``except Exception``.
    """


@contextmanager
def hard_deadline(seconds: float, what: str) -> Iterator[None]:
    """Fail the block with ``DeadlineExceeded`` once it has run ``seconds``.

    On the main thread only (it uses ``SIGALRM``); elsewhere the block runs without one. A
    wait in the database driver is interrupted too (the signal ends the system call), and
    this thread's connections are closed then, since a query may have been cut short.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        faulthandler.dump_traceback(sys.stderr, all_threads=True)
        raise DeadlineExceeded(f"{what} ran past its hard deadline of {seconds:g} s (stacks dumped to stderr)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except DeadlineExceeded:
        connections.close_all()  # a query may have been cut short: the test's teardown reconnects
        raise
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
