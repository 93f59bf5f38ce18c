"""Ctrl-C during a command that changes jobs: never a batch committed without being counted."""

from __future__ import annotations

import signal
import threading
from typing import Any

INTERRUPTED_STATUS = 130  # the shell's status for a process stopped by Ctrl-C (128 + SIGINT)


class CtrlC:
    """Ctrl-C (SIGINT) that waits while a batch commits and is counted.

    Outside ``hold()`` … ``release()`` a Ctrl-C raises ``KeyboardInterrupt`` as usual, so a statement blocked
    on a lock is interrupted (psycopg cancels it on the server) and its batch rolled back.
    Inside, it is remembered and raised when the block ends, so a batch is never committed
    without being counted. A second Ctrl-C while held raises at once. Only installed in the
    main thread, over Python's default handler (not where SIGINT is ignored or handled).
    """

    def __init__(self) -> None:
        self._held = False
        self._pending = False
        self._previous: Any = None

    def __enter__(self) -> CtrlC:
        on_main_thread = threading.current_thread() is threading.main_thread()
        if on_main_thread and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self._held and not self._pending:
            self._pending = True
            return
        raise KeyboardInterrupt

    def hold(self) -> None:
        """From here a Ctrl-C waits for ``release()``."""
        self._held = True

    def release(self, *, interrupt: bool = True) -> None:
        """Raise the ``KeyboardInterrupt`` of a Ctrl-C that came while held (if ``interrupt``)."""
        pending, self._held, self._pending = self._pending, False, False
        if pending and interrupt:
            raise KeyboardInterrupt
