"""``TaskWorker``: the ``Worker`` that runs the job of a Django task.

The runtime gives a job whose ``worker`` path names a ``Task`` (not a ``Worker``) to this
class (``worker_for``, registered in ``django_oban.workers.extensions`` when the app is
ready), so task jobs are claimed, timed out, retried with backoff, cancelled and rescued
exactly like any other job.
"""

from __future__ import annotations

import traceback
from contextvars import ContextVar
from dataclasses import replace
from typing import Any

from django.utils import timezone

from ..models import Job
from ..workers import Cancel, Record, Snooze, Worker
from .backend import ObanBackend
from .compat import (
    Task,
    TaskContext,
    TaskError,
    TaskResult,
    TaskResultStatus,
    task_backends,
    task_finished,
    task_started,
)
from .options import TaskOptions, task_options
from .results import json_value, load_task, module_path, result_of_job

#: The job of the task running in this context, if any; see ``current_job()``.
running_job: ContextVar[Job | None] = ContextVar("django_oban_task_job", default=None)


class TaskNotFound(Exception):
    """A task job's ``worker`` path does not name a Django ``Task``."""


def backend_alias(job: Job) -> str:
    """The alias of the backend that enqueued ``job`` (``"default"`` if not recorded)."""
    stored = job.meta.get("task") if isinstance(job.meta, dict) else None
    alias = stored.get("backend") if isinstance(stored, dict) else None
    return alias if isinstance(alias, str) else "default"


def options_of(job: Job) -> TaskOptions:
    """The ``OPTIONS`` of the task's backend, for the task at ``job.worker``."""
    try:
        options = task_backends[backend_alias(job)].options
    except Exception:  # noqa: BLE001 - a backend gone from TASKS: the defaults apply
        options = {}
    return task_options(options if isinstance(options, dict) else {}, job.worker)


def call_task(result: TaskResult[Any]) -> Any:
    """Call the task function with the job's arguments (and its context if it takes one)."""
    task = result.task
    args = list(result.args)
    if task.takes_context:
        args.insert(0, TaskContext(task_result=result))
    return task.call(*args, **result.kwargs)


def format_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` as text."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def finished_result(result: TaskResult[Any], job: Job, outcome: Cancel | Snooze | Record) -> TaskResult[Any]:
    """The running ``result`` once the task returned ``outcome`` (its job possibly cancelled meanwhile)."""
    if job.cancelled() or isinstance(outcome, Cancel):
        return finish(result, TaskResultStatus.FAILED)
    if isinstance(outcome, Snooze):
        return finish(result, TaskResultStatus.READY)
    finished = finish(result, TaskResultStatus.SUCCESSFUL)
    object.__setattr__(finished, "_return_value", outcome.value)
    return finished


def finish(result: TaskResult[Any], status: TaskResultStatus, **changes: Any) -> TaskResult[Any]:
    """A copy of the running ``result`` in ``status``, finished now unless it will run again."""
    finished = replace(result, status=status, **changes)
    if status != TaskResultStatus.READY:
        object.__setattr__(finished, "finished_at", timezone.now())
    return finished


class TaskWorker(Worker):
    """Runs a task job: sends ``task_started``, calls the task, records its return value
    (``meta["recorded"]``), sends ``task_finished`` with the outcome (before the worker
    writes it, so receivers should read the ``task_result`` they get, not the job).

    A task that raises fails the attempt (retried with backoff until ``MAX_ATTEMPTS``); one
    that returns ``django_oban.Cancel`` or ``Snooze`` steers its job as a worker's would.
    """

    def process(self, job: Job) -> Any:
        task = load_task(job.worker)
        if task is None:
            raise TaskNotFound(f"{job.worker!r} is not a Django task")
        result = result_of_job(job, task, backend_alias(job), TaskResultStatus.RUNNING)
        task_started.send(sender=ObanBackend, task_result=result)
        token = running_job.set(job)
        try:
            value = call_task(result)
            outcome = value if isinstance(value, (Cancel, Snooze)) else Record(json_value(value))
        except BaseException as exc:
            status = TaskResultStatus.FAILED if job.attempt >= job.max_attempts else TaskResultStatus.READY
            error = TaskError(exception_class_path=module_path(type(exc)), traceback=format_traceback(exc))
            task_finished.send(sender=ObanBackend, task_result=finish(result, status, errors=[*result.errors, error]))
            raise
        finally:
            running_job.reset(token)
        task_finished.send(sender=ObanBackend, task_result=finished_result(result, job, outcome))
        return outcome

    def backoff(self, job: Job) -> int:
        """The task's ``BACKOFF`` option, else the default exponential backoff."""
        return int(options_of(job).backoff_seconds(job, super().backoff))

    def timeout(self, job: Job) -> float | None:
        """The task's ``TIMEOUT`` option."""
        return options_of(job).timeout


def worker_for(value: Any) -> type[Worker] | None:
    """``TaskWorker`` if ``value`` (what a job's ``worker`` path imports as) is a Django
    ``Task``, else ``None``."""
    return TaskWorker if isinstance(value, Task) else None


def current_job() -> Job | None:
    """The job of the task running in this thread or coroutine, or ``None`` outside a task.

    ``current_job().cancelled()`` turns true soon after the job is cancelled from anywhere.
    """
    return running_job.get()
