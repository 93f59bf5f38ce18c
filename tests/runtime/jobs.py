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
    """Plain Python code running ``args["seconds"]`` in short sleeps: interrupted at its timeout."""

    def process(self, job):
        deadline = time.monotonic() + job.args.get("seconds", 5)
        while time.monotonic() < deadline:
            time.sleep(0.01)

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


# -- workers that misbehave in every way the runtime must contain -----------------------


class RecordsUnstorable(Worker):
    """Returns a ``Record`` whose value PostgreSQL or JSON cannot hold, as ``args["kind"]`` says."""

    max_attempts = 1
    values = {
        "set": lambda: {1, 2},
        "nan": lambda: float("nan"),
        "infinity": lambda: {"x": float("inf")},
        "object": lambda: {"when": object()},
        "nul": lambda: {"text\x00key": "a\x00b"},
        "surrogate": lambda: ["\ud800 lone"],
    }

    def process(self, job):
        return Record(self.values[job.args["kind"]]())


class RaisesUnstorable(Worker):
    """Raises an error whose message holds a NUL character and a lone surrogate."""

    max_attempts = 1

    def process(self, job):
        raise ValueError("bad\x00byte and \udc80 surrogate")


class RaisesBaseException(Worker):
    """Raises ``SystemExit``, ``KeyboardInterrupt`` or a bare ``BaseException`` subclass."""

    max_attempts = 1

    class Custom(BaseException):
        pass

    def process(self, job):
        kind = job.args["kind"]
        if kind == "exit":
            raise SystemExit(3)
        if kind == "interrupt":
            raise KeyboardInterrupt
        raise self.Custom("not an Exception")


class UnprintableError(Exception):
    def __str__(self):
        raise RuntimeError("no text for you")


class RaisesUnprintable(Worker):
    max_attempts = 1

    def process(self, job):
        raise UnprintableError()


class SnoozesBadly(Worker):
    """Returns ``Snooze`` with a value no schedule can hold, as ``args["kind"]`` says."""

    max_attempts = 1
    values = {"huge": 1e12, "string": "60", "nan": float("nan"), "infinity": float("inf"), "bool": True}

    def process(self, job):
        return Snooze(self.values[job.args["kind"]])


class BacksOffBadly(Worker):
    """Fails; its ``backoff`` raises, overflows or returns garbage, as ``args["kind"]`` says."""

    max_attempts = 3

    def process(self, job):
        raise ValueError("the job failed")

    def backoff(self, job):
        kind = job.args["kind"]
        if kind == "raise":
            raise RuntimeError("backoff exploded")
        if kind == "exit":
            raise SystemExit("backoff exits")
        return {"huge": 10**30, "string": "soon", "nan": float("nan"), "none": None, "negative": -5}[kind]


class TimesOutBadly(Worker):
    """Its ``timeout`` raises or returns garbage, as ``args["kind"]`` says."""

    max_attempts = 1

    def process(self, job):
        return None

    def timeout(self, job):
        kind = job.args["kind"]
        if kind == "raise":
            raise RuntimeError("timeout exploded")
        return {"string": "10", "nan": float("nan"), "negative": -1, "zero": 0, "list": [1]}[kind]


class FailsInInit(Worker):
    max_attempts = 1

    def __init__(self):
        raise RuntimeError("cannot even start")

    def process(self, job):
        return None


class FailsLoudly(Worker):
    """Raises a long message; ``max_attempts`` high enough to collect many errors."""

    max_attempts = 30

    def process(self, job):
        raise ValueError("x" * job.args.get("length", 10) + "\x00")

    def backoff(self, job):
        return 0


class TimesOutStubbornly(Worker):
    """Runs ``args["seconds"]`` in short sleeps, swallowing the timeout, then marks that it ended."""

    def process(self, job):
        deadline = time.monotonic() + job.args["seconds"]
        while time.monotonic() < deadline:
            try:
                time.sleep(0.01)
            except Exception:  # noqa: BLE001 - swallows the JobTimeout on purpose
                if job.cancelled():  # set before the exception is raised
                    Path(job.args["interrupted"]).touch()
        Path(job.args["ended"]).touch()

    def timeout(self, job):
        return job.args["timeout"]


class UsesTheOrm(Worker):
    """Queries the database and records which backend answered."""

    max_attempts = 1

    def process(self, job):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()" if connection.vendor == "postgresql" else "SELECT 1")
            backend = cursor.fetchone()[0]
        return Record({"backend": backend, "thread": threading.get_ident()})


class AsyncUsesTheOrm(Worker):
    """An async job whose ORM calls go through ``sync_to_async``; records the thread they ran on."""

    max_attempts = 1

    async def process(self, job):
        from asgiref.sync import sync_to_async

        from django_oban.models import Job

        def query():
            Job.objects.filter(pk=job.pk).exists()
            time.sleep(job.args.get("seconds", 0))
            return threading.get_ident()

        return Record({"thread": await sync_to_async(query)()})
