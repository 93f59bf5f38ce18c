"""How a task maps onto a job and back: priority, the stored call, and ``TaskResult``.

A task's job is an ordinary ``Job``:

- ``worker``: the task's module path (``Task.module_path``), so the admin, the commands'
  ``--worker`` filter and the logs name the task;
- ``args``: ``{"args": [...], "kwargs": {...}}``, the call's arguments as JSON;
- ``meta["task"]``: ``{"backend": alias, "priority": Django priority}`` (plus ``"run_after"``
  when deferred), what the job's own columns cannot say;
- ``meta["recorded"]``: the return value, once the task succeeded (``Record``);
- ``queue``, ``max_attempts``, ``tags``, ``scheduled_at`` as for any job, and ``priority``
  from ``job_priority``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime
from django.utils.module_loading import import_string

from ..models import Job
from ..states import JobState
from .compat import InvalidTask, Task, TaskError, TaskResult, TaskResultStatus

#: Django's task priorities: -100 (lowest) to 100 (highest), 0 by default.
MIN_PRIORITY, MAX_PRIORITY = -100, 100
#: Width of the band of Django priorities sharing one job priority (0-9, 0 first).
PRIORITY_BAND = 20

STATUS_OF_STATE = {
    JobState.AVAILABLE: TaskResultStatus.READY,
    JobState.SCHEDULED: TaskResultStatus.READY,
    JobState.RETRYABLE: TaskResultStatus.READY,
    JobState.EXECUTING: TaskResultStatus.RUNNING,
    JobState.COMPLETED: TaskResultStatus.SUCCESSFUL,
    JobState.DISCARDED: TaskResultStatus.FAILED,
    JobState.CANCELLED: TaskResultStatus.FAILED,
}


class TaskCancelled(Exception):
    """The error of a task whose job was cancelled (``TaskResult.errors`` names it)."""


class TaskFailed(Exception):
    """The error of a failed attempt recorded without its exception's class."""


def job_priority(priority: int) -> int:
    """The job priority (0 first … 9) of a Django priority (100 first … -100), order-preserving.

    Bands of 20: 100…81 → 0, 80…61 → 1, …, 0…-19 → 5 (Django's default), …, -80…-100 → 9.
    """
    return min((MAX_PRIORITY - priority) // PRIORITY_BAND, 9)


def json_value(value: Any) -> Any:
    """``value`` as JSON holds it (tuples become lists); ``TypeError``/``ValueError`` if it cannot."""
    return json.loads(json.dumps(value, allow_nan=False))


def module_path(value: Any) -> str:
    """``module.qualname`` of a class or function."""
    return f"{value.__module__}.{value.__qualname__}"


def load_task(path: str) -> Task[Any, Any] | None:
    """The ``Task`` at the dotted ``path``, or ``None`` if it names none (or cannot be imported)."""
    try:
        value = import_string(path)
    except ImportError:
        return None
    return value if isinstance(value, Task) else None


def task_of_job(task: Task[Any, Any], job: Job, backend: str) -> Task[Any, Any]:
    """``task`` as the job has it: its queue, priority and ``run_after``, on ``backend``.

    A job moved where the backend would not enqueue it (a queue outside its ``QUEUES``)
    keeps the task's own values.
    """
    stored = job.meta.get("task") if isinstance(job.meta, dict) else None
    stored = stored if isinstance(stored, dict) else {}
    priority = stored.get("priority")
    run_after = parse_datetime(stored["run_after"]) if isinstance(stored.get("run_after"), str) else None
    try:
        return task.using(
            priority=priority if isinstance(priority, int) else None,
            queue_name=job.queue,
            run_after=run_after,
            backend=backend,
        )
    except InvalidTask:
        return task.using(backend=backend)


def task_errors(job: Job) -> list[TaskError]:
    """``job.errors`` as ``TaskError``s, and the cancellation of a cancelled job."""
    errors = []
    for entry in job.errors if isinstance(job.errors, list) else []:
        if not isinstance(entry, dict):
            continue
        message = str(entry.get("error", ""))
        path = entry.get("exception")
        if not isinstance(path, str):
            path = module_path(TaskCancelled if message.startswith("Cancelled: ") else TaskFailed)
        errors.append(TaskError(exception_class_path=path, traceback=str(entry.get("traceback") or message)))
    cancelled_path = module_path(TaskCancelled)
    if job.state == JobState.CANCELLED and not (errors and errors[-1].exception_class_path == cancelled_path):
        at = job.cancelled_at.isoformat() if job.cancelled_at else "an unknown time"
        errors.append(TaskError(exception_class_path=cancelled_path, traceback=f"Job {job.pk} was cancelled at {at}."))
    return errors


def finished_at(job: Job) -> datetime | None:
    """When the job finished, if it did."""
    return {
        JobState.COMPLETED: job.completed_at,
        JobState.DISCARDED: job.discarded_at,
        JobState.CANCELLED: job.cancelled_at,
    }.get(JobState(job.state))


def result_of_job(
    job: Job,
    task: Task[Any, Any],
    backend: str,
    status: TaskResultStatus | None = None,
    *,
    made_from_task: bool = False,
) -> TaskResult[Any]:
    """The ``TaskResult`` of ``task``'s ``job`` (``status``, if given, instead of the job's).

    ``made_from_task``: the job was just made from ``task`` on ``backend``, which is then the
    result's task as it is (not rebuilt, and validated again, from the job's values).
    """
    call = job.args if isinstance(job.args, dict) else {}
    result: TaskResult[Any] = TaskResult(
        task=task if made_from_task else task_of_job(task, job, backend),
        id=str(job.pk),
        status=status or STATUS_OF_STATE[JobState(job.state)],
        enqueued_at=job.inserted_at,
        started_at=job.attempted_at,
        finished_at=finished_at(job),
        last_attempted_at=job.attempted_at,
        args=list(call.get("args", [])),
        kwargs=dict(call.get("kwargs", {})),
        backend=backend,
        errors=task_errors(job),
        worker_ids=[str(node) for node in job.attempted_by] if isinstance(job.attempted_by, list) else [],
    )
    if result.status == TaskResultStatus.SUCCESSFUL and isinstance(job.meta, dict):
        object.__setattr__(result, "_return_value", job.meta.get("recorded"))
    return result
