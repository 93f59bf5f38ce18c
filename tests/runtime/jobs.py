"""Workers used by the runtime tests."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from django_oban import Cancel, Record, Snooze, Worker


class Noop(Worker):
    def process(self, job):
        return None


class Returns(Worker):
    """Returns what ``args["outcome"]`` names."""

    def process(self, job):
        kind = job.args["outcome"]
        if kind == "record":
            return Record({"answer": 42})
        if kind == "cancel":
            return Cancel("not needed")
        if kind == "snooze":
            return Snooze(job.args.get("seconds", 60))
        return "ignored"


class Fails(Worker):
    max_attempts = 2

    def process(self, job):
        raise ValueError(f"boom on attempt {job.attempt}")

    def backoff(self, job):
        return 0


class Slow(Worker):
    def process(self, job):
        time.sleep(job.args.get("seconds", 5))

    def timeout(self, job):
        return job.args.get("timeout")


class AsyncSlow(Worker):
    async def process(self, job):
        await asyncio.sleep(job.args.get("seconds", 0))
        return Record("async")

    def timeout(self, job):
        return job.args.get("timeout")


class Cancellable(Worker):
    """Loops until cancelled, touching ``args["started"]`` once running; returns Cancel."""

    def process(self, job):
        if "started" in job.args:
            Path(job.args["started"]).touch()
        deadline = time.monotonic() + job.args.get("seconds", 30)
        while time.monotonic() < deadline:
            if job.cancelled():
                return Cancel("stopped at the check")
            time.sleep(0.01)
        return Record("ran to the end")


class Fast(Worker):
    """A no-op whose completions go through the batched acknowledgement."""

    def process(self, job):
        return None


class Counted(Worker):
    """Counts how many of its jobs run at once, per queue; sleeps, then returns, records or fails."""

    max_attempts = 1
    lock = threading.Lock()
    running: dict[str, int] = {}
    most: dict[str, int] = {}

    def process(self, job):
        with self.lock:
            self.running[job.queue] = self.running.get(job.queue, 0) + 1
            self.most[job.queue] = max(self.most.get(job.queue, 0), self.running[job.queue])
        try:
            time.sleep(job.args.get("seconds", 0))
            if job.args.get("outcome") == "fail":
                raise ValueError("failing on purpose")
            if job.args.get("outcome") == "record":
                return Record(job.pk)
            return None
        finally:
            with self.lock:
                self.running[job.queue] -= 1
