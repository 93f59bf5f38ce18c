"""Running one job: resolve its worker, call ``process`` and turn the result into an outcome."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from ..models import Job
from ..signals import job_finished, job_started
from ..states import JobState
from ..workers import Cancel, Record, Snooze, Worker

logger = logging.getLogger("django_oban.worker")


class WorkerNotFound(Exception):
    """A job's ``worker`` path does not name an importable ``Worker`` subclass."""


class JobTimeout(Exception):
    """``process`` ran longer than ``Worker.timeout(job)``."""


@dataclass
class Outcome:
    """What an attempt produced: the state to write and the columns that go with it."""

    job: Job
    state: str
    duration: float
    error: str | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    error_entry: dict[str, Any] | None = None

    @property
    def is_plain_completion(self) -> bool:
        return self.state == JobState.COMPLETED and not self.meta


@lru_cache(maxsize=1024)
def resolve_worker(path: str) -> type[Worker]:
    """The ``Worker`` subclass at ``path``; raises ``WorkerNotFound`` with the reason."""
    try:
        worker = import_string(path)
    except ImportError as exc:
        raise WorkerNotFound(f"cannot import worker {path!r}: {exc}") from exc
    if not (isinstance(worker, type) and issubclass(worker, Worker)):
        raise WorkerNotFound(f"{path!r} is not a django_oban.Worker subclass")
    return worker


def call_process(worker: Worker, job: Job, timeout: float | None) -> Any:
    """Call ``worker.process(job)`` (sync or async), failing with ``JobTimeout`` after ``timeout``."""
    if inspect.iscoroutinefunction(worker.process):
        return asyncio.run(_call_async(worker, job, timeout))
    if timeout is None:
        return worker.process(job)
    return _call_sync_with_timeout(worker, job, timeout)


async def _call_async(worker: Worker, job: Job, timeout: float | None) -> Any:
    try:
        return await asyncio.wait_for(worker.process(job), timeout)
    except asyncio.TimeoutError:
        raise JobTimeout(f"timed out after {timeout:g}s") from None


def _call_sync_with_timeout(worker: Worker, job: Job, timeout: float) -> Any:
    """Run ``process`` in a helper thread; on timeout its cancel flag is set and it is abandoned."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = worker.process(job)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            result["error"] = exc

    thread = threading.Thread(target=target, name=f"oban-job-{job.pk}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        set_cancelled(job)
        raise JobTimeout(f"timed out after {timeout:g}s")
    if "error" in result:
        raise result["error"]
    return result.get("value")


def set_cancelled(job: Job) -> None:
    """Turn ``job.cancelled()`` true for the code running it (the flag is created on demand)."""
    if job._cancel_event is None:
        job._cancel_event = threading.Event()
    job._cancel_event.set()


def execute(job: Job) -> Outcome:
    """Run a claimed (executing) job and return its outcome; never raises for job errors."""
    started = time.monotonic()
    worker_class: type[Worker] | None = None
    try:
        worker_class = resolve_worker(job.worker)
        job_started.send(sender=worker_class, job=job)
        worker = worker_class()
        value = call_process(worker, job, worker.timeout(job))
    except Exception as exc:  # noqa: BLE001 - any failure of the job is its outcome
        outcome = failure(job, worker_class, exc, time.monotonic() - started)
    else:
        outcome = success(job, value, time.monotonic() - started)
    job_finished.send(
        sender=worker_class, job=job, state=outcome.state, duration=outcome.duration, error=outcome.error
    )
    if logger.isEnabledFor(logging.INFO):
        logger.info(
            "job %s %s queue=%s attempt=%s state=%s duration=%.6f error=%s",
            job.pk, job.worker, job.queue, job.attempt, outcome.state, outcome.duration, outcome.error,
            extra={"job_id": job.pk, "worker": job.worker, "queue": job.queue, "state": outcome.state},
        )
    return outcome


def success(job: Job, value: Any, duration: float) -> Outcome:
    """The outcome of ``process`` returning ``value``."""
    if not isinstance(value, (Cancel, Snooze, Record)):
        # A plain completion: acknowledged in a batch that sets completed_at in the database.
        return Outcome(job, JobState.COMPLETED, duration)
    now = timezone.now()
    if isinstance(value, Cancel):
        entry = error_entry(job, now, f"Cancelled: {value.reason}")
        return Outcome(job, JobState.CANCELLED, duration, value.reason, {"cancelled_at": now}, error_entry=entry)
    if isinstance(value, Snooze):
        scheduled_at = now + timedelta(seconds=value.seconds)
        state = JobState.AVAILABLE if value.seconds <= 0 else JobState.SCHEDULED
        return Outcome(
            job, state, duration, changes={"scheduled_at": scheduled_at, "attempt": max(job.attempt - 1, 0)}
        )
    return Outcome(job, JobState.COMPLETED, duration, changes={"completed_at": now}, meta={"recorded": value.value})


def failure(job: Job, worker_class: type[Worker] | None, exc: BaseException, duration: float) -> Outcome:
    """The outcome of an attempt that raised ``exc``: retryable with backoff, or discarded."""
    now = timezone.now()
    message = f"{type(exc).__name__}: {exc}"
    entry = error_entry(job, now, message, "".join(traceback.format_exception(exc)))
    if job.attempt >= job.max_attempts:
        return Outcome(job, JobState.DISCARDED, duration, message, {"discarded_at": now}, error_entry=entry)
    delay = (worker_class or Worker)().backoff(job)
    return Outcome(
        job, JobState.RETRYABLE, duration, message, {"scheduled_at": now + timedelta(seconds=delay)}, error_entry=entry
    )


def error_entry(job: Job, at: datetime, error: str, trace: str | None = None) -> dict[str, Any]:
    """One element of ``Job.errors``."""
    entry: dict[str, Any] = {"attempt": job.attempt, "at": at.isoformat(), "error": error}
    if trace:
        entry["traceback"] = trace
    return entry


def write_outcome(outcome: Outcome, using: str = "default") -> bool:
    """Write a non-trivial outcome, only if the row is still executing this attempt.

    The row is locked and its current ``meta``/``errors`` merged, so changes made by
    others while the job ran are kept. Returns whether the row was written.
    """
    job = outcome.job
    with transaction.atomic(using=using):
        current = (
            Job.objects.using(using)
            .select_for_update()
            .filter(pk=job.pk, state=JobState.EXECUTING, attempt=job.attempt)
            .values("meta", "errors")
            .first()
        )
        if current is None:
            return False
        values: dict[str, Any] = {"state": outcome.state, **outcome.changes}
        if outcome.state == JobState.COMPLETED and "completed_at" not in values:
            values["completed_at"] = timezone.now()
        if outcome.meta:
            values["meta"] = {**current["meta"], **outcome.meta}
        if outcome.error_entry is not None:
            values["errors"] = [*current["errors"], outcome.error_entry]
        Job.objects.using(using).filter(pk=job.pk).update(**values)
    return True
