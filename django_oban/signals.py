"""Django signals around jobs: enqueued, started, finished, and managed by an operator.

``job_enqueued(sender=Job, job)``
    After a new job is inserted (``Worker.enqueue``, ``Job.save``, ``insert_all``), inside the
    caller's transaction: connect with ``transaction.on_commit`` in mind. Not sent for a
    unique job that was not inserted because it duplicates one (``job.conflict``).
``job_started(sender=worker class or None, job)``
    Before ``process`` runs.
``job_finished(sender=worker class or None, job, state, duration, error)``
    After the outcome is known, **before it is written** (the worker writes outcomes in
    batches once receivers return: a receiver reading the job from the database still sees
    it executing): ``state`` is the state about to be written, ``duration`` the seconds
    ``process`` took, ``error`` the error text or ``None``. A task's ``task_finished`` is
    sent earlier still (docs/tasks.md, Signals).
``jobs_managed(sender=operation name, count, ids, source, user, **details)``
    Once per management call, whichever surface made it (see ``django_oban.managing``):
    ``sender`` is ``"cancel"``, ``"retry"``, ``"delete"``, ``"update"`` or ``"run_now"`` (and
    ``"pause"``, ``"resume"``, ``"scale"`` for queues), ``count`` how many jobs changed,
    ``ids`` their ids when the operation returned rows (else ``None``), ``source`` ``"api"``,
    ``"admin"`` or ``"command"``, ``user`` the admin's user (else ``None``). Queue operations
    add ``queue``, ``node`` (``None``: every node) and the value set, ``paused`` or ``limit``;
    their ``count`` is the number of live nodes that apply the change. Receivers that raise
    are logged and never break the operation.
"""

import logging
from collections.abc import Iterable
from typing import Any

from django.dispatch import Signal

logger = logging.getLogger("django_oban.signals")

job_enqueued = Signal()
job_started = Signal()
job_finished = Signal()
jobs_managed = Signal()


def send_enqueued(jobs: Iterable[Any]) -> None:
    """Send ``job_enqueued`` for each job of ``jobs`` that was inserted (not a unique ``conflict``).

    A receiver that raises is logged: the job is inserted whatever receivers do.
    """
    for job in jobs:
        if not job.conflict:
            send_logged(job_enqueued, "job_enqueued", f"job {job.pk}", sender=type(job), job=job)


def send_jobs_managed(
    operation: str, count: int, ids: list[int] | None, *, source: str, user: Any, **details: Any
) -> None:
    """Send ``jobs_managed`` now; a receiver that raises is logged, never raised."""
    kwargs = {"count": count, "ids": ids, "source": source, "user": user, **details}
    send_logged(jobs_managed, "jobs_managed", operation, sender=operation, **kwargs)


def send_logged(signal: Signal, name: str, about: str, *, sender: Any, **kwargs: Any) -> None:
    """``signal.send_robust``; each receiver that raised is logged: "<name> receiver … failed for <about>"."""
    for receiver, response in signal.send_robust(sender=sender, **kwargs):
        if isinstance(response, Exception):
            logger.error("%s receiver %r failed for %s", name, receiver, about, exc_info=response)
