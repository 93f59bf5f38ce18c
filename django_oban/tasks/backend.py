"""``ObanBackend``: Django Tasks on django-oban's table and workers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from ..conf import oban_settings
from ..models import Job
from ..workers import run_if_inline
from .compat import (
    BaseTaskBackend,
    InvalidTask,
    Task,
    TaskResult,
    TaskResultDoesNotExist,
    task_enqueued,
)
from .options import clean_task_unique, option_problems, task_options
from .results import job_priority, json_value, load_task, result_of_job


class ObanBackend(BaseTaskBackend):
    """Runs Django tasks as django-oban jobs: ``TASKS = {"default": {"BACKEND":
    "django_oban.backends.ObanBackend"}}``.

    ``QUEUES`` (the queues tasks may name) defaults to the queues of ``OBAN["QUEUES"]``;
    ``OPTIONS`` sets Oban's job options (``django_oban.tasks.options``). Results are the
    jobs themselves: ``get_result`` reads the job, whatever changed it since.
    """

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        if "QUEUES" not in params:
            self.queues = set(oban_settings.QUEUES)
        self.options = params.get("OPTIONS", {})

    def validate_task(self, task: Task[Any, Any]) -> None:
        """The framework's checks (module-level function, priority range, aware ``run_after``,
        a queue of ``QUEUES``), with the queues this backend accepts named in the error."""
        try:
            super().validate_task(task)
        except InvalidTask as exc:
            if self.queues and task.queue_name not in self.queues:
                raise InvalidTask(
                    f"Queue {task.queue_name!r} is not a queue of the task backend {self.alias!r}; "
                    f"its queues are {', '.join(map(repr, sorted(self.queues)))} (its QUEUES setting)."
                ) from exc
            raise

    def new_job(self, task: Task[Any, Any], args: Any, kwargs: Any) -> Job:
        """The unsaved job of a call of ``task``; ``TypeError`` if the arguments are not JSON,
        ``ImproperlyConfigured`` if the task's ``UNIQUE`` option is invalid."""
        try:
            call = {"args": json_value(list(args)), "kwargs": json_value(dict(kwargs))}
        except (TypeError, ValueError) as exc:
            raise TypeError(f"The arguments of task {task.module_path} must be JSON-serialisable: {exc}") from None
        options = task_options(self.options, task.module_path)
        try:
            unique = clean_task_unique(options.unique)
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"Task backend {self.alias!r}: the UNIQUE option of task {task.module_path}: {exc}."
            ) from None
        meta: dict[str, Any] = {"task": {"backend": self.alias, "priority": task.priority}}
        now = timezone.now()
        if task.run_after is not None:
            meta["task"]["run_after"] = task.run_after.isoformat()
        return Job(
            worker=task.module_path,
            args=call,
            meta=meta,
            queue=task.queue_name,
            priority=job_priority(task.priority),
            max_attempts=options.max_attempts,
            tags=list(options.tags),
            inserted_at=now,
            scheduled_at=task.run_after or now,
            unique=unique,
        )

    def enqueue(self, task: Task[Any, Any], args: Any, kwargs: Any) -> TaskResult[Any]:
        """Insert the task's job in the current transaction and return its result (``READY``).

        A unique task (``UNIQUE``) that duplicates a job of the same task inserts nothing and
        returns the result of that job, without sending ``task_enqueued``. With
        ``OBAN["TESTING"] = "inline"`` the job runs once the transaction commits, and the
        returned result is refreshed then.
        """
        self.validate_task(task)
        job = self.new_job(task, args, kwargs)
        job.save()
        result = result_of_job(job, task, self.alias, made_from_task=not job.conflict)
        if not job.conflict:
            task_enqueued.send(type(self), task_result=result)
        run_if_inline(job, then=result.refresh)
        return result

    def get_result(self, result_id: str) -> TaskResult[Any]:
        """The result of the task job with id ``result_id``; ``TaskResultDoesNotExist`` if
        there is no such job or it is not a task's."""
        try:
            pk = int(str(result_id).strip())
        except ValueError:
            raise TaskResultDoesNotExist(f"No task result with id {result_id!r}.") from None
        job = Job.objects.with_ids([pk]).first()
        task = load_task(job.worker) if job is not None else None
        if job is None or task is None:
            raise TaskResultDoesNotExist(f"No task result with id {result_id!r}.")
        return result_of_job(job, task, self.alias)

    def check(self, **kwargs: Any) -> Iterable[checks.CheckMessage]:
        """``OPTIONS`` valid (``django_oban.E020``); ``QUEUES`` run by the workers (``django_oban.W021``)."""
        yield from super().check(**kwargs)
        for problem in option_problems(self.options):
            yield checks.Error(f"Task backend {self.alias!r}: {problem}", id="django_oban.E020")
        unserved = sorted(self.queues - set(oban_settings.QUEUES), key=str)
        if unserved:
            yield checks.Warning(
                f"Task backend {self.alias!r} accepts queues no worker runs: {', '.join(map(repr, unserved))}.",
                hint="Add them to OBAN['QUEUES'] (or oban_worker --queues), or remove them from the backend's QUEUES.",
                id="django_oban.W021",
            )
