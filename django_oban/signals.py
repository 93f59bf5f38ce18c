"""Signals sent by the worker runtime (and ``django_oban.testing``) around each job.

``job_started(sender=worker class or None, job)``
    Before ``process`` runs.
``job_finished(sender=worker class or None, job, state, duration, error)``
    After the outcome is known, **before it is written** (the worker writes outcomes in
    batches once receivers return: a receiver reading the job from the database still sees
    it executing): ``state`` is the state about to be written, ``duration`` the seconds
    ``process`` took, ``error`` the error text or ``None``. A task's ``task_finished`` is
    sent earlier still (docs/tasks.md, Signals).
"""

from django.dispatch import Signal

job_started = Signal()
job_finished = Signal()
