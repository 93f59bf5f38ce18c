"""Running one job: resolve its worker, call ``process`` and turn the result into an outcome.

Whatever user code does (the worker module, ``process``, a signal receiver, ``backoff``,
``timeout``), ``execute`` returns an outcome that can be written: the job's own attempt
fails with the error kept, and nothing else is affected.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from numbers import Real
from typing import Any

from asgiref.sync import async_to_sync
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from ..models import Job
from ..signals import job_finished, job_started
from ..states import JobState
from ..tracing import job_span
from ..workers import MAX_DELAY, Cancel, Record, Snooze, Worker, find_worker
from .joblog import log_outcome
from .storable import describe, error_message, error_traceback, recent_errors, storable_json, storable_text
from .timeouts import JobTimeout, call_with_timeout

__all__ = ["JobTimeout", "Outcome", "WorkerNotFound", "call_process", "execute", "set_cancelled", "write_outcome"]

logger = logging.getLogger("django_oban.worker")


class WorkerNotFound(Exception):
    """A job's ``worker`` path does not name an importable ``Worker`` subclass."""


class UnstorableRecord(Exception):
    """``process`` returned a ``Record`` whose value JSON cannot hold."""


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
    """The ``Worker`` subclass at ``path``; raises ``WorkerNotFound`` with the reason.

    Any error importing the module (a syntax error, an exception at import time, even
    ``SystemExit``) is such a reason.
    """
    try:
        worker = import_string(path)
    except BaseException as exc:
        raise WorkerNotFound(f"cannot import worker {path!r}: {describe(exc)}") from exc
    if isinstance(worker, type) and issubclass(worker, Worker):
        return worker
    runner = find_worker(worker)  # e.g. a Django task's job
    if runner is None:
        raise WorkerNotFound(f"{path!r} is not a django_oban.Worker subclass (nor a Django task)")
    return runner


def checked_timeout(seconds: Any) -> float | None:
    """``Worker.timeout``'s result as seconds, or ``None``; ``TypeError``/``ValueError`` if invalid."""
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, Real):
        raise TypeError(f"timeout() returned {seconds!r}: expected a number of seconds or None")
    value = float(seconds)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"timeout() returned {seconds!r}: expected a positive, finite number of seconds or None")
    return min(value, threading.TIMEOUT_MAX)


_ASYNC_PROCESS: dict[type[Worker], bool] = {}


def is_async(worker_class: type[Worker]) -> bool:
    """Whether the ``process`` of ``worker_class`` is ``async def`` (asked once per class)."""
    found = _ASYNC_PROCESS.get(worker_class)
    if found is None:
        found = _ASYNC_PROCESS[worker_class] = inspect.iscoroutinefunction(worker_class.process)
    return found


def call_process(worker: Worker, job: Job, timeout: Any) -> Any:
    """Call ``worker.process(job)`` (sync or async), failing with ``JobTimeout`` after ``timeout``.

    A sync ``process`` runs on this thread; with a timeout it is interrupted there (see
    ``timeouts``), so it has ended when this returns. An async one runs in an event loop
    whose thread-sensitive ``sync_to_async`` calls (the ORM's) run on this thread, with its
    database connection, and is cancelled at the timeout.
    """
    seconds = checked_timeout(timeout)
    if is_async(type(worker)):
        return async_to_sync(_call_async)(worker, job, seconds)
    if seconds is None:
        return worker.process(job)
    return call_with_timeout(lambda: worker.process(job), seconds, lambda: set_cancelled(job))


async def _call_async(worker: Worker, job: Job, timeout: float | None) -> Any:
    try:
        return await asyncio.wait_for(worker.process(job), timeout)
    except asyncio.TimeoutError:
        set_cancelled(job)
        raise JobTimeout(f"timed out after {timeout:g}s") from None


def set_cancelled(job: Job) -> None:
    """Turn ``job.cancelled()`` true for the code running it (the flag is created on demand)."""
    if job._cancel_event is None:
        job._cancel_event = threading.Event()
    job._cancel_event.set()


def execute(job: Job) -> Outcome:
    """Run a claimed (executing) job and return its outcome; never raises."""
    started = time.monotonic()
    worker_class: type[Worker] | None = None
    worker: Worker | None = None
    with job_span(job) as span:
        try:
            worker_class = resolve_worker(job.worker)
            job_started.send(sender=worker_class, job=job)
            worker = worker_class()
            value = call_process(worker, job, worker.timeout(job))
            outcome = success(job, value, time.monotonic() - started)
        except BaseException as exc:  # noqa: BLE001 - any failure of the job is its outcome
            outcome = failure(job, worker, exc, time.monotonic() - started)
            span.failed(exc)
        span.finished(outcome.state)
        announce(worker_class, outcome)
    return outcome


def announce(worker_class: type[Worker] | None, outcome: Outcome) -> None:
    """Send ``job_finished`` and log the outcome (``joblog``); a failing receiver is logged, not raised."""
    job = outcome.job
    try:
        responses = job_finished.send_robust(
            sender=worker_class, job=job, state=outcome.state, duration=outcome.duration, error=outcome.error
        )
    except BaseException:
        logger.exception("a job_finished receiver failed for job %s", job.pk)
        responses = []
    for receiver, response in responses:
        if isinstance(response, BaseException):
            logger.error("job_finished receiver %r failed for job %s", receiver, job.pk, exc_info=response)
    log_outcome(job, outcome.state, outcome.duration, outcome.error)


def success(job: Job, value: Any, duration: float) -> Outcome:
    """The outcome of ``process`` returning ``value``; raises if that value cannot be stored."""
    if not isinstance(value, (Cancel, Snooze, Record)):
        # A plain completion: acknowledged in a batch that sets completed_at in the database.
        return Outcome(job, JobState.COMPLETED, duration)
    now = timezone.now()
    if isinstance(value, Cancel):
        reason = error_message(_text(value.reason))
        entry = error_entry(job, now, f"Cancelled: {reason}")
        return Outcome(job, JobState.CANCELLED, duration, reason, {"cancelled_at": now}, error_entry=entry)
    if isinstance(value, Snooze):
        scheduled_at = now + timedelta(seconds=value.seconds)
        state = JobState.AVAILABLE if value.seconds <= 0 else JobState.SCHEDULED
        return Outcome(
            job, state, duration, changes={"scheduled_at": scheduled_at, "attempt": max(job.attempt - 1, 0)}
        )
    try:
        recorded = storable_json(value.value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise UnstorableRecord(f"the Record value cannot be stored as JSON: {describe(exc)}") from exc
    return Outcome(job, JobState.COMPLETED, duration, changes={"completed_at": now}, meta={"recorded": recorded})


def failure(job: Job, worker: Worker | None, exc: BaseException, duration: float) -> Outcome:
    """The outcome of an attempt that raised ``exc``: retryable with backoff, or discarded."""
    now = timezone.now()
    message = error_message(describe(exc))
    trace = _format_traceback(exc)
    if job.attempt >= job.max_attempts:
        entry = error_entry(job, now, message, trace, exception_path(exc))
        return Outcome(job, JobState.DISCARDED, duration, message, {"discarded_at": now}, error_entry=entry)
    delay, problem = retry_delay(worker, job)
    if problem:
        message = error_message(f"{message} ({problem})")
    entry = error_entry(job, now, message, trace, exception_path(exc))
    return Outcome(
        job, JobState.RETRYABLE, duration, message, {"scheduled_at": now + timedelta(seconds=delay)}, error_entry=entry
    )


def retry_delay(worker: Worker | None, job: Job) -> tuple[float, str | None]:
    """Seconds until the retry, from ``worker.backoff(job)``, and what was wrong with it, if anything.

    A result that is not a finite number, or a ``backoff`` that raises, gets the default
    backoff instead; negative delays count as 0 and delays above ``MAX_DELAY`` as ``MAX_DELAY``.
    """
    default = Worker().backoff
    try:
        seconds = (worker.backoff if worker is not None else default)(job)
    except BaseException as exc:  # noqa: BLE001 - backoff is user code
        return default(job), f"backoff() raised {describe(exc)}; the default backoff was used"
    if isinstance(seconds, bool) or not isinstance(seconds, Real) or not math.isfinite(seconds):
        return default(job), f"backoff() returned {_text(seconds, repr):.100}; the default backoff was used"
    return min(max(float(seconds), 0.0), MAX_DELAY), None


def _format_traceback(exc: BaseException) -> str:
    try:
        return error_traceback("".join(traceback.format_exception(exc)))
    except Exception:  # noqa: BLE001 - formatting calls user code (__str__, __repr__)
        return ""


def _text(value: Any, convert: Callable[[Any], str] = str) -> str:
    """``convert(value)``, or a placeholder when that fails."""
    try:
        return storable_text(convert(value))
    except Exception:  # noqa: BLE001 - __str__ is user code
        return f"<unprintable {type(value).__name__}>"


def error_entry(
    job: Job, at: datetime, error: str, trace: str | None = None, exception: str | None = None
) -> dict[str, Any]:
    """One element of ``Job.errors``; ``exception`` is the dotted path of the exception's class."""
    entry: dict[str, Any] = {"attempt": job.attempt, "at": at.isoformat(), "error": error}
    if trace:
        entry["traceback"] = trace
    if exception:
        entry["exception"] = exception
    return entry


def exception_path(exc: BaseException) -> str:
    """The dotted path of ``exc``'s class, as stored in ``Job.errors`` (``"exception"``)."""
    return storable_text(f"{type(exc).__module__}.{type(exc).__qualname__}")


def write_outcome(outcome: Outcome, using: str = "default") -> bool:
    """Write a non-trivial outcome, only if the row is still executing this attempt.

    The row is locked and its current ``meta``/``errors`` merged, so changes made by
    others while the job ran are kept; ``errors`` keeps its last ``MAX_ERRORS`` entries.
    Returns whether the row was written. An outcome the database refuses for its data is
    written as a failure of the attempt instead (naming the error), so that one job never
    blocks the writing of the others. Connection errors, and any error writing that
    failure (then the database itself is at fault, e.g. read-only), are raised: the
    caller retries.
    """
    try:
        return _write(outcome, using)
    except (OperationalError, InterfaceError):
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. a DataError: the outcome itself is at fault
        logger.error("job %s: its outcome could not be written (%s); failing the attempt", outcome.job.pk, exc)
        return _write(failure(outcome.job, None, exc, outcome.duration), using)


def _write(outcome: Outcome, using: str) -> bool:
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
            meta = current["meta"] if isinstance(current["meta"], dict) else {}
            values["meta"] = {**meta, **outcome.meta}
        if outcome.error_entry is not None:
            errors = current["errors"] if isinstance(current["errors"], list) else []
            values["errors"] = recent_errors([*errors, outcome.error_entry])
        Job.objects.using(using).filter(pk=job.pk).update(**values)
    return True
