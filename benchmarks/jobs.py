"""The jobs django-oban runs in the benchmark: a no-op, and one that waits to be cancelled."""

from __future__ import annotations

import time
from pathlib import Path

from django_oban import Worker


class Noop(Worker):
    """Does nothing: the job every system runs in the throughput and latency scenarios."""

    def process(self, job):
        return None


class AwaitCancel(Worker):
    """Spins until ``job.cancelled()`` turns true, then writes ``time.time()`` to ``args["path"]``."""

    def process(self, job):
        deadline = time.monotonic() + 30
        while not job.cancelled() and time.monotonic() < deadline:
            time.sleep(0.0002)
        Path(job.args["path"]).write_text(repr(time.time()))
