"""Bugs the state machine (``test_lifecycle``) found, pinned as plain tests on both engines."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import django_oban
from django_oban.models import Job
from django_oban.states import JobState
from tests.conftest import make_job

pytestmark = pytest.mark.django_db

EMPTY_DELETES: dict[str, Callable[[], Any]] = {
    "QuerySet.delete of no ids": lambda: Job.objects.filter(pk__in=[]).delete(),
    "delete_many_jobs([])": lambda: django_oban.delete_many_jobs([]),
    "perform('prune') of no ids": lambda: Job.objects.filter(pk__in=[]).perform("prune"),
    "prune of no states": lambda: Job.objects.prune(0, states=[]),
}
EMPTY_COUNTS = {"QuerySet.delete of no ids": (0, {"django_oban.Job": 0})}


@pytest.mark.parametrize("name", EMPTY_DELETES)
def test_deleting_a_set_that_cannot_match_anything_counts_zero(name: str) -> None:
    """Django's raw delete answers ``None`` for a query it knows is empty: the count must be 0."""
    kept = make_job(JobState.COMPLETED)
    assert EMPTY_DELETES[name]() == EMPTY_COUNTS.get(name, 0)
    assert Job.objects.filter(pk=kept.pk).exists()


@pytest.mark.parametrize("via", ["function", "queryset"])
def test_an_update_computed_per_job_to_run_now_leaves_an_available_job_available(via: str) -> None:
    """``schedule_in=0`` from a callable was computed after the update's "now": the job became scheduled."""
    job = make_job(JobState.AVAILABLE)
    changes = lambda job: {"schedule_in": 0}  # noqa: E731
    if via == "function":
        (updated,) = django_oban.update_many_jobs([job.pk], changes)
    else:
        (updated,) = Job.objects.filter(pk=job.pk).update_many(changes)
    assert updated.state == JobState.AVAILABLE
    assert Job.objects.get(pk=job.pk).state == JobState.AVAILABLE
