"""Timeouts of sync jobs: the job runs on its own thread and is interrupted there at its deadline.

One watchdog thread per process keeps the deadlines of the jobs running with a timeout.
At a job's deadline it sets the job's cancel flag and raises ``JobTimeout`` in the thread
running it (``PyThreadState_SetAsyncExc``). That thread stays busy until ``process`` has
really returned, so the job's slot stays taken and its row ``executing``: a retry can never
run while the timed-out attempt still does. Python delivers the exception between two
bytecodes, so code blocked in a C call (a socket read, ``time.sleep``) is interrupted when
that call returns.
"""

from __future__ import annotations

import contextlib
import ctypes
import heapq
import itertools
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class JobTimeout(Exception):
    """``process`` ran longer than ``Worker.timeout(job)``."""


class _Deadline:
    """One call being watched: the thread running it and what to do when it is late."""

    def __init__(self, at: float, on_timeout: Callable[[], Any]) -> None:
        self.at = at
        self.thread_id = threading.get_ident()
        self.on_timeout = on_timeout
        self.fired = False


class _Watchdog:
    """Raises ``JobTimeout`` in threads whose deadline has passed; a daemon thread, started on first use.

    A job thread may get its ``JobTimeout`` as soon as its deadline is registered, so what
    it runs from then on must not be interruptible halfway through taking or releasing a
    lock: ``lock`` is a plain ``Lock`` and the watchdog is woken through a ``SimpleQueue``,
    both implemented in C (a ``Condition`` or an ``Event`` runs Python code around its
    lock, where an exception could leave it held).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.wakeups: queue.SimpleQueue[None] = queue.SimpleQueue()
        self.deadlines: list[tuple[float, int, _Deadline]] = []
        self.watched: set[_Deadline] = set()
        self.counter = itertools.count()
        self.thread: threading.Thread | None = None

    def watch(self, deadline: _Deadline) -> None:
        with self.lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="oban-timeouts", daemon=True)
                self.thread.start()
            heapq.heappush(self.deadlines, (deadline.at, next(self.counter), deadline))
            self.watched.add(deadline)
        self.wakeups.put(None)

    def unwatch(self, deadline: _Deadline) -> bool:
        """Stop watching; whether it fired (then no ``JobTimeout`` is left pending for this thread)."""
        with self.lock:
            self.watched.discard(deadline)
            if deadline.fired:
                _raise_in(deadline.thread_id, None)  # clears an exception not delivered yet
            return deadline.fired

    def _run(self) -> None:
        while True:
            with self.lock:
                fired = self._fire_due()
            if not fired:
                with contextlib.suppress(queue.Empty):
                    self.wakeups.get(timeout=self._next_wait())

    def _fire_due(self) -> bool:
        """Fire the first deadline that has passed, if any (lock held): ``on_timeout`` first,
        so that code catching the ``JobTimeout`` already sees its effect."""
        while self.deadlines and self.deadlines[0][2] not in self.watched:
            heapq.heappop(self.deadlines)  # finished in time
        if not self.deadlines or self.deadlines[0][0] > time.monotonic():
            return False
        _, _, deadline = heapq.heappop(self.deadlines)
        self.watched.discard(deadline)
        deadline.fired = True
        deadline.on_timeout()
        _raise_in(deadline.thread_id, JobTimeout)
        return True

    def _next_wait(self) -> float | None:
        with self.lock:
            return max(self.deadlines[0][0] - time.monotonic(), 0.0) if self.deadlines else None


def _raise_in(thread_id: int, exception: type[BaseException] | None) -> None:
    """Raise ``exception`` in the thread ``thread_id`` at its next bytecode (``None``: clear it)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exception) if exception is not None else None
    )


_watchdog = _Watchdog()


def call_with_timeout(call: Callable[[], T], seconds: float, on_timeout: Callable[[], Any]) -> T:
    """``call()`` in this thread; after ``seconds`` run ``on_timeout`` and interrupt it.

    Raises ``JobTimeout`` whenever the deadline passed, even if the call caught the
    exception and went on (then once it returns); its cause is what the call raised, if
    anything, so the traceback shows where it was interrupted.
    """
    deadline = _Deadline(time.monotonic() + seconds, on_timeout)
    message = f"timed out after {seconds:g}s"
    try:
        try:
            _watchdog.watch(deadline)
            result = call()
        finally:
            fired = _watchdog.unwatch(deadline)
    except BaseException as exc:
        if deadline.fired:
            raise JobTimeout(message) from exc
        raise
    if fired:
        raise JobTimeout(message)
    return result
