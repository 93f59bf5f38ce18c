"""Signals sent by the worker runtime (and ``django_oban.testing``) around each job.

``job_started(sender=worker class or None, job)``
    Before ``process`` runs.
``job_finished(sender=worker class or None, job, state, duration, error)``
    After the outcome is known: ``state`` is the state written, ``duration`` the seconds
    ``process`` took, ``error`` the error text or ``None``.
"""

from django.dispatch import Signal

job_started = Signal()
job_finished = Signal()
