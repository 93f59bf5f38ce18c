"""The chaos suite's worker: runs for a while, records each execution, then behaves as told.

Every execution appends a ``start`` line, and an ``end`` line with the outcome it returns,
to a file of its own process in the directory named by ``OBAN_CHAOS_LOG``: one
``os.write`` of a short line each, so lines of different threads never interleave and
what was written survives a ``kill -9`` of the process.
"""

from __future__ import annotations

import json
import os
import random
import time
import traceback
from typing import Any

from django_oban import Cancel, Record, Snooze, Worker
from django_oban.models import Job

LOG_DIR_ENV = "OBAN_CHAOS_LOG"
PLANNED_FAILURE = "planned failure"

#: What a job does once it has slept, named in ``args["plan"]``.
PLANS = ("complete", "record", "fail_once", "snooze_once", "cancel_itself", "always_fail")


def log_execution(event: str, job: Job, **fields: Any) -> None:
    """Append one JSON line about ``job`` to this process's execution log."""
    line = {"event": event, "id": job.pk, "attempt": job.attempt, "pid": os.getpid(), "at": time.time(), **fields}
    path = os.path.join(os.environ[LOG_DIR_ENV], f"{os.getpid()}.jsonl")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(line) + "\n").encode())
    finally:
        os.close(fd)


class ChaosJob(Worker):
    """Sleeps ``args["ms"]`` milliseconds watching for cancellation, queries its own row, then
    follows ``args["plan"]`` (see ``PLANS``)."""

    max_attempts = 5

    def process(self, job: Job) -> Any:
        log_execution("start", job, node=job.attempted_by[-1])
        try:
            outcome, value = self._run(job)
        except Exception as exc:
            log_execution("end", job, outcome="failed", error=repr(exc), traceback=traceback.format_exc(limit=-12))
            raise
        log_execution("end", job, outcome=outcome)
        return value

    def _run(self, job: Job) -> tuple[str, Any]:
        deadline = time.monotonic() + job.args["ms"] / 1000
        while time.monotonic() < deadline:
            if job.cancelled():
                return "cancelled", Cancel("cancelled while running")
            time.sleep(0.005)
        # Job code that uses the ORM needs a working connection after any fault.
        Job.objects.filter(pk=job.pk).exists()
        plan = job.args["plan"]
        first_run = len(job.attempted_by) == 1 and not job.errors
        if plan == "always_fail" or (plan == "fail_once" and not job.errors):
            raise RuntimeError(PLANNED_FAILURE)
        if plan == "snooze_once" and first_run:
            return "snoozed", Snooze(random.choice([0, 1]))
        if plan == "cancel_itself":
            return "cancelled", Cancel("planned")
        if plan == "record":
            return "completed", Record({"id": job.pk})
        return "completed", None

    def backoff(self, job: Job) -> int:
        return random.choice([0, 1])
