from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from model_bakery import baker

from django_oban.models import Job
from django_oban.states import JobState

ALL_STATES = list(JobState.values)

_STATE_TIMESTAMPS = {
    JobState.COMPLETED: "completed_at",
    JobState.CANCELLED: "cancelled_at",
    JobState.DISCARDED: "discarded_at",
}


def make_job(state: str = JobState.AVAILABLE, **fields: Any) -> Job:
    """A saved job in ``state`` with the timestamps that state implies."""
    now = timezone.now()
    defaults: dict[str, Any] = {"worker": "tests.workers.Noop", "queue": "default", "state": state}
    if state in (JobState.EXECUTING, JobState.RETRYABLE, JobState.COMPLETED, JobState.DISCARDED):
        defaults.update(attempt=1, attempted_at=now, attempted_by=["node-1"])
    if state in _STATE_TIMESTAMPS:
        defaults[_STATE_TIMESTAMPS[state]] = now
    if state == JobState.SCHEDULED:
        defaults["scheduled_at"] = now + timezone.timedelta(hours=1)
    defaults.update(fields)
    job = baker.prepare(Job, **defaults)
    Job.objects.bulk_create([job])  # bypasses save() so the state is exactly as given
    return job


def snapshot() -> list[tuple]:
    """Every column of every job, to prove that a rejected call changed nothing."""
    return list(Job.objects.order_by("pk").values_list())


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"
