"""The node's notifier: LISTEN on a dedicated connection; wake producers, flag cancelled jobs, re-read controls."""

from __future__ import annotations

import threading
from typing import Any, Protocol

from django.db import connections

from ..notify import AVAILABLE_CHANNEL, CANCELLED_CHANNEL, QUEUES_CHANNEL
from .health import Reconnection


class Listener(Protocol):
    """What the notifier needs of the node it runs in (``Runner``)."""

    halted: threading.Event

    def wake(self, queue: str | None = None) -> None: ...

    def cancel_running(self, ids: list[int]) -> None: ...

    def queues_changed(self) -> None: ...


def listen(runner: Listener) -> None:
    """Until ``runner`` halted, deliver notifications to it; reconnects with backoff.

    Until halted, not stopping: cancellations still reach jobs running in the grace period.
    """
    import psycopg  # only PostgreSQL nodes listen; SQLite-only installs may lack libpq

    reconnection = Reconnection("listening for notifications")
    while not runner.halted.is_set():
        try:
            with psycopg.connect(**connection_kwargs(), autocommit=True) as conn:
                conn.execute(f"LISTEN {AVAILABLE_CHANNEL}")
                conn.execute(f"LISTEN {QUEUES_CHANNEL}")
                conn.execute(f"LISTEN {CANCELLED_CHANNEL}")
                reconnection.succeeded()
                runner.wake()  # catch up on anything missed while not listening
                runner.queues_changed()
                while not runner.halted.is_set():
                    for notify in conn.notifies(timeout=0.5):
                        deliver(runner, notify.channel, notify.payload)
        except Exception as exc:  # noqa: BLE001 - reconnect on any connection failure
            runner.halted.wait(reconnection.failed(exc))


def deliver(runner: Listener, channel: str, payload: str) -> None:
    """Act on one notification: wake the queue's producer, flag the cancelled ids running here,
    or have the queue controls re-read."""
    if channel == AVAILABLE_CHANNEL:
        runner.wake(payload)
    elif channel == CANCELLED_CHANNEL:
        runner.cancel_running([int(pk) for pk in payload.split(",") if pk.strip().isdigit()])
    elif channel == QUEUES_CHANNEL:
        runner.queues_changed()


def connection_kwargs(using: str = "default") -> dict[str, Any]:
    """psycopg.connect() arguments for the Django database ``using``."""
    params = connections[using].get_connection_params()
    unwanted = ("cursor_factory", "context", "prepare_threshold")
    return {key: value for key, value in params.items() if key not in unwanted}
