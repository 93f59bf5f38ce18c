"""Settings of the benchmark: the test project's, plus django-tasks-db as the ``db`` Tasks backend."""

from importlib.util import find_spec

from testproject.settings import *  # noqa: F403
from testproject.settings import INSTALLED_APPS, TASKS

if find_spec("django_tasks_db"):
    INSTALLED_APPS = [*INSTALLED_APPS, "django_tasks_db"]
    TASKS = {**TASKS, "db": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
