"""Sample Django tasks of the demo site, run by django-oban's workers (see ``TASKS``)."""

from __future__ import annotations

import time

from django_oban.backends import current_job

try:
    from django.tasks import task
except ImportError:  # Django < 6.0: the django-tasks backport
    from django_tasks import task


@task()
def add(a: int, b: int) -> int:
    """Returns the sum: ``add.enqueue(2, 3)``, then ``get_result(id).return_value == 5``."""
    return a + b


@task(queue_name="reports", priority=50)
def count_slowly(to: int) -> int:
    """Counts to ``to`` in tenths of a second, stopping early when its job is cancelled."""
    job = current_job()
    for n in range(to):
        if job is not None and job.cancelled():
            return n
        time.sleep(0.1)
    return to
