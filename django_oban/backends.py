"""The Django Tasks backend: ``TASKS = {"default": {"BACKEND": "django_oban.backends.ObanBackend"}}``.

Needs Django >= 6.0 (``django.tasks``) or the ``django-tasks`` backport
(``pip install 'django-oban[tasks]'``). See docs/tasks.md.
"""

from .tasks.backend import ObanBackend
from .tasks.results import TaskCancelled, TaskFailed, job_priority
from .tasks.runner import current_job

__all__ = ["ObanBackend", "TaskCancelled", "TaskFailed", "current_job", "job_priority"]
