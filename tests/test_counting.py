"""Bounded counts: exact up to the bound, the planner's estimate beyond it, exact everywhere on SQLite."""

from __future__ import annotations

import pytest
from django.db import connection

from django_oban.counting import Count, bounded_count, bounded_counts_by_state, total
from django_oban.models import Job
from django_oban.states import JobState
from tests.conftest import make_job

pytestmark = pytest.mark.django_db


def analyze() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE oban_jobs")


def test_a_count_within_the_bound_is_exact() -> None:
    for _ in range(3):
        make_job(JobState.DISCARDED)
    assert bounded_count(Job.objects.filter(state=JobState.DISCARDED), exact_up_to=3) == Count(3, exact=True)
    assert bounded_count(Job.objects.none()) == Count(0, exact=True)


def test_past_the_bound_postgresql_estimates_and_says_so_other_databases_count() -> None:
    for _ in range(40):
        make_job(JobState.COMPLETED)
    analyze()
    count = bounded_count(Job.objects.filter(state=JobState.COMPLETED), exact_up_to=10)
    if connection.vendor == "postgresql":
        assert not count.exact
        assert 11 <= count.value <= 80  # the planner's estimate after ANALYZE, never below what was counted
        assert str(count).startswith("≈ ")
    else:
        assert count == Count(40, exact=True)


def test_counts_by_state_name_every_state_in_order() -> None:
    make_job(JobState.AVAILABLE)
    make_job(JobState.CANCELLED)
    counts = bounded_counts_by_state(Job.objects.all())
    assert list(counts) == JobState.values
    assert {state: count.value for state, count in counts.items() if count.value} == {"available": 1, "cancelled": 1}


def test_a_total_is_exact_only_when_every_part_is() -> None:
    assert total([Count(2), Count(3)]) == Count(5, exact=True)
    assert total([Count(2), Count(300_000, exact=False)]) == Count(300_002, exact=False)
    assert str(Count(1_234_567)) == "1,234,567"
