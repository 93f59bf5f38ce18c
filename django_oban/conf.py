"""django-oban settings, read lazily from the ``OBAN`` dict in Django settings.

=================  ===================  ==============================================
key                default              meaning
=================  ===================  ==============================================
``QUEUES``         ``{"default": 10}``  queue name -> concurrency limit of each node
``NODE``           ``"<host>-<pid>"``   this node's name, shown in ``attempted_by``
``PRUNE_AFTER``    ``604800`` (7 days)  seconds a finished job is kept
``RESCUE_AFTER``   ``60``               seconds without a heartbeat before an executing
                                        job of that node counts as orphaned
``SHUTDOWN_GRACE`` ``15``               seconds running jobs get to finish on shutdown
``POLL_INTERVAL``  ``1.0``              seconds between polls when notifications are
                                        not available (SQLite) or as a fallback
``HEARTBEAT_INTERVAL`` ``1.0``          seconds between a node's heartbeats (and the
                                        leader's staging, rescue and pruning rounds)
``TESTING``        ``None``             ``"inline"``: ``enqueue`` runs the job once the
                                        transaction commits; ``"manual"``: only inserts
                                        (run jobs with ``testing.drain_queue``)
``CRON``           ``[]``               periodic jobs: ``(expression, worker_path)`` or
                                        ``(expression, worker_path, options)`` entries
                                        (``docs/periodic-jobs.md``)
``TIMEZONE``       ``"UTC"``            the IANA time zone cron expressions are read in
=================  ===================  ==============================================
"""

from __future__ import annotations

import os
import socket
from typing import Any

from django.conf import settings as django_settings

DEFAULTS: dict[str, Any] = {
    "QUEUES": {"default": 10},
    "NODE": None,
    "PRUNE_AFTER": 7 * 24 * 3600,
    "RESCUE_AFTER": 60,
    "SHUTDOWN_GRACE": 15,
    "POLL_INTERVAL": 1.0,
    "HEARTBEAT_INTERVAL": 1.0,
    "TESTING": None,
    "CRON": [],
    "TIMEZONE": "UTC",
}

#: The values of ``OBAN["TESTING"]``: ``None`` (off), or a testing mode.
TESTING_MODES = (None, "inline", "manual")


def default_node_name() -> str:
    """``hostname-pid`` of this process."""
    return f"{socket.gethostname()}-{os.getpid()}"


class ObanSettings:
    """Typed, lazy access to ``settings.OBAN`` with defaults applied.

    Values are read on every access so that ``override_settings`` works.
    """

    @property
    def user_settings(self) -> dict[str, Any]:
        value = getattr(django_settings, "OBAN", {})
        return value if isinstance(value, dict) else {}

    def _get(self, key: str) -> Any:
        return self.user_settings.get(key, DEFAULTS[key])

    def _seconds(self, key: str) -> float:
        return float(self._get(key))

    @property
    def QUEUES(self) -> dict[str, int]:
        return dict(self._get("QUEUES"))

    @property
    def NODE(self) -> str:
        return self._get("NODE") or default_node_name()

    @property
    def PRUNE_AFTER(self) -> float:
        return self._seconds("PRUNE_AFTER")

    @property
    def RESCUE_AFTER(self) -> float:
        return self._seconds("RESCUE_AFTER")

    @property
    def SHUTDOWN_GRACE(self) -> float:
        return self._seconds("SHUTDOWN_GRACE")

    @property
    def POLL_INTERVAL(self) -> float:
        return self._seconds("POLL_INTERVAL")

    @property
    def HEARTBEAT_INTERVAL(self) -> float:
        return self._seconds("HEARTBEAT_INTERVAL")

    @property
    def CRON(self) -> Any:
        """The raw entries; ``django_oban.cron.entries`` validates them."""
        return self._get("CRON")

    @property
    def TIMEZONE(self) -> Any:
        return self._get("TIMEZONE")

    @property
    def TESTING(self) -> str | None:
        value = self._get("TESTING")
        return value if isinstance(value, str) else None


oban_settings = ObanSettings()
