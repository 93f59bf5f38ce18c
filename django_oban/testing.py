"""Helpers for testing code that enqueues and runs jobs, e.g. with pytest or ``TestCase``.

``drain_queue`` runs a queue's jobs inline with the worker's own claim, execution and
acknowledgement code; ``perform_job`` runs a worker without the database.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from .models import Job
from .runtime import database
from .runtime.execution import call_process, execute
from .states import INCOMPLETE_STATES, JobState
from .workers import Worker

#: Node name recorded in ``attempted_by`` for jobs run by ``drain_queue``.
TEST_NODE = "django_oban.testing"


def drain_queue(queue: str = "default", *, with_scheduled: bool = False) -> dict[str, int]:
    """Run the available jobs of ``queue`` inline until none is left; return counts by final state.

    With ``with_scheduled=True`` scheduled and retryable jobs of the queue are run too,
    whatever their ``scheduled_at`` (each once per call). Jobs a job enqueues on the same
    queue are run as well.
    """
    if with_scheduled:
        Job.objects.filter(queue=queue, state__in=[JobState.SCHEDULED, JobState.RETRYABLE]).update(
            state=JobState.AVAILABLE
        )
    counts: Counter[str] = Counter()
    while jobs := database.claim(queue, 100, TEST_NODE):
        for job in jobs:
            outcome = execute(job)
            database.acknowledge([outcome])
            counts[outcome.state] += 1
    return dict(counts)


def perform_job(worker: type[Worker], args: dict[str, Any] | None = None, **options: Any) -> Any:
    """Run ``worker.process`` on an unsaved job built from ``args`` and return what it returned.

    ``options`` are those of ``Worker.new()``; the job is on its first attempt. Exceptions
    propagate, and ``Worker.timeout`` is applied.
    """
    job = worker.new(args, **options)
    job.state = JobState.EXECUTING
    job.attempt = 1
    instance = worker()
    return call_process(instance, job, instance.timeout(job))


def _matching(worker: type[Worker] | str | None, queue: str | None, args: dict[str, Any] | None) -> list[Job]:
    jobs = Job.objects.filter(state__in=INCOMPLETE_STATES).exclude(state=JobState.EXECUTING)
    if worker is not None:
        jobs = jobs.filter(worker=worker if isinstance(worker, str) else worker.path())
    if queue is not None:
        jobs = jobs.filter(queue=queue)
    return [job for job in jobs if args is None or args.items() <= job.args.items()]


def _describe(worker: type[Worker] | str | None, queue: str | None, args: dict[str, Any] | None) -> str:
    parts = {"worker": worker if isinstance(worker, str) or worker is None else worker.path(), "queue": queue}
    parts["args"] = args  # type: ignore[assignment]
    return ", ".join(f"{key}={value!r}" for key, value in parts.items() if value is not None) or "any job"


def assert_enqueued(
    worker: type[Worker] | str | None = None, *, queue: str | None = None, args: dict[str, Any] | None = None
) -> list[Job]:
    """Assert that a job waiting to run matches (``args``: a subset of the job's); return the matches."""
    matches = _matching(worker, queue, args)
    assert matches, f"Expected a job enqueued with {_describe(worker, queue, args)}; found none."
    return matches


def refute_enqueued(
    worker: type[Worker] | str | None = None, *, queue: str | None = None, args: dict[str, Any] | None = None
) -> None:
    """Assert that no job waiting to run matches (``args``: a subset of the job's)."""
    matches = _matching(worker, queue, args)
    assert not matches, f"Expected no job enqueued with {_describe(worker, queue, args)}; found {matches}."
