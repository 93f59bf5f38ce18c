"""Running one given job here and now: the ``"inline"`` testing mode (``OBAN["TESTING"]``)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from ..models import Job
from ..states import JobState
from .database import acknowledge, start_attempt
from .execution import Outcome, execute

#: Node name recorded in ``attempted_by`` for jobs run inline.
INLINE_NODE = "django_oban.inline"


def claim_job(job: Job) -> Job | None:
    """Mark ``job`` executing for ``INLINE_NODE`` if it is waiting to run (available,
    scheduled or retryable: its schedule is not waited for); the claimed row, else ``None``."""
    with transaction.atomic():
        row: Job | None = (
            Job.objects.select_for_update()
            .filter(pk=job.pk, state__in=[JobState.AVAILABLE, JobState.SCHEDULED, JobState.RETRYABLE])
            .first()
        )
        if row is None:
            return None
        Job.objects.filter(pk=row.pk).update(**start_attempt(row, INLINE_NODE, timezone.now()))
    return row


def run_inline(job: Job) -> Outcome | None:
    """Run ``job`` in this thread as a worker would and write its outcome; ``job`` is refreshed.

    Returns the outcome, or ``None`` if the job was no longer waiting to run (cancelled,
    deleted, already running or finished).
    """
    row = claim_job(job)
    if row is None:
        return None
    outcome = execute(row)
    acknowledge([outcome])
    job.refresh_from_db()
    return outcome
