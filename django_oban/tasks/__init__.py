"""Django Tasks (``django.tasks``, or the ``django-tasks`` backport) on django-oban.

The backend is ``django_oban.backends.ObanBackend``; see docs/tasks.md. This package needs
the framework only once used: the runtime asks ``worker_for`` about every worker path that
does not name a ``Worker``, with or without the framework installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from ..models import Job
    from ..workers import Worker


def worker_for(value: Any) -> type[Worker] | None:
    """The ``Worker`` class that runs jobs whose ``worker`` path imports as ``value``:
    ``TaskWorker`` for a Django ``Task``, else ``None``."""
    try:
        from .compat import Task
    except (ImportError, ImproperlyConfigured):  # no Tasks framework installed: nothing is a task
        return None
    if not isinstance(value, Task):
        return None
    from .runner import TaskWorker

    return TaskWorker


def current_job() -> Job | None:
    """The job of the task running in this thread or coroutine, or ``None`` outside a task.

    ``current_job().cancelled()`` turns true soon after the job is cancelled from anywhere.
    """
    from .runner import running_job

    return running_job.get()
