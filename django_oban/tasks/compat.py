"""Django's Tasks framework: ``django.tasks`` (Django >= 6.0), else the ``django-tasks`` backport.

Everything the backend needs from the framework is imported here, once. The two differ in
some names: the invalid-task error is ``InvalidTask`` in Django and ``InvalidTaskError`` in
the backport; older backports call the missing-result error ``ResultDoesNotExist``.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured

#: Packages of the framework, in order of preference.
PACKAGES = ("django.tasks", "django_tasks")


def framework_package() -> str:
    """The first of ``PACKAGES`` that can be imported; ``ImproperlyConfigured`` if none."""
    for package in PACKAGES:
        try:
            import_module(package)
        except ImportError:
            continue
        return package
    raise ImproperlyConfigured(
        "django_oban's Tasks backend needs Django >= 6.0 or the django-tasks backport: "
        "pip install 'django-oban[tasks]'."
    )


PACKAGE = framework_package()


def submodule(name: str) -> ModuleType:
    """``PACKAGE.name``, e.g. ``submodule("signals")``."""
    return import_module(f"{PACKAGE}.{name}")


def first_attribute(module: ModuleType, *names: str) -> Any:
    """The first of ``names`` that ``module`` has (the framework renamed some)."""
    for name in names:
        if hasattr(module, name):
            return getattr(module, name)
    raise ImproperlyConfigured(f"{module.__name__} has none of {', '.join(names)}: an unsupported version.")


if TYPE_CHECKING:
    from django_tasks import task_backends
    from django_tasks.backends.base import BaseTaskBackend
    from django_tasks.base import Task, TaskContext, TaskError, TaskResult, TaskResultStatus
    from django_tasks.exceptions import InvalidTaskError as InvalidTask
    from django_tasks.exceptions import TaskResultDoesNotExist, TaskResultMismatch
    from django_tasks.signals import task_enqueued, task_finished, task_started
else:
    _base = submodule("base")
    _exceptions = submodule("exceptions")
    _signals = submodule("signals")
    task_backends = import_module(PACKAGE).task_backends
    BaseTaskBackend = submodule("backends.base").BaseTaskBackend
    Task, TaskContext, TaskError, TaskResult, TaskResultStatus = (
        _base.Task, _base.TaskContext, _base.TaskError, _base.TaskResult, _base.TaskResultStatus
    )
    InvalidTask = first_attribute(_exceptions, "InvalidTask", "InvalidTaskError")
    TaskResultDoesNotExist = first_attribute(_exceptions, "TaskResultDoesNotExist", "ResultDoesNotExist")
    TaskResultMismatch = first_attribute(_exceptions, "TaskResultMismatch", "ResultMismatch")
    task_enqueued, task_started, task_finished = _signals.task_enqueued, _signals.task_started, _signals.task_finished

__all__ = [
    "PACKAGE",
    "BaseTaskBackend",
    "InvalidTask",
    "Task",
    "TaskContext",
    "TaskError",
    "TaskResult",
    "TaskResultDoesNotExist",
    "TaskResultMismatch",
    "TaskResultStatus",
    "task_backends",
    "task_enqueued",
    "task_finished",
    "task_started",
]
