"""Bounded counts: exact up to the bound, the planner's estimate beyond it, exact everywhere on SQLite."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection

from django_oban import counting
from django_oban.counting import Count, bounded_count, bounded_counts_by_state, bounded_stats, total
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
    count = bounded_count(Job.objects.filter(state=JobState.DISCARDED), exact_up_to=3)
    assert (count, count.exact) == (3, True)
    assert bounded_count(Job.objects.none()).exact


def test_past_the_bound_postgresql_estimates_and_says_so_other_databases_count() -> None:
    for _ in range(40):
        make_job(JobState.COMPLETED)
    analyze()
    count = bounded_count(Job.objects.filter(state=JobState.COMPLETED), exact_up_to=10)
    if connection.vendor == "postgresql":
        assert not count.exact
        assert 11 <= count <= 80  # the planner's estimate after ANALYZE, never below what was counted
        assert str(count).startswith("≈ ")
    else:
        assert (count, count.exact) == (40, True)


def test_counts_by_state_name_every_state_in_order() -> None:
    make_job(JobState.AVAILABLE)
    make_job(JobState.CANCELLED)
    counts = bounded_counts_by_state(Job.objects.all())
    assert list(counts) == JobState.values
    assert {state: count for state, count in counts.items() if count} == {"available": 1, "cancelled": 1}


def test_a_total_is_exact_only_when_every_part_is() -> None:
    assert repr(total([Count(2), Count(3)])) == "Count(5, exact=True)"
    assert repr(total([Count(2), Count(300_000, exact=False)])) == "Count(300002, exact=False)"
    assert str(Count(1_234_567)) == "1,234,567"
    assert json.dumps({"available": Count(7, exact=False)}) == '{"available": 7}'  # an int wherever one is expected


def test_bounded_stats_count_every_queue_with_a_job_by_state() -> None:
    make_job(JobState.AVAILABLE, queue="mailers")
    make_job(JobState.DISCARDED, queue="mailers")
    make_job(JobState.COMPLETED, queue="default")
    stats = bounded_stats(Job.objects.all())
    assert stats == Job.objects.stats()  # the same figures while every count is within the bound
    assert all(count.exact for by_state in stats.values() for count in by_state.values())


@pytest.mark.postgres
def test_bounded_stats_of_a_big_table_count_each_queue_and_state_with_the_bound(
    monkeypatch: pytest.MonkeyPatch, django_assert_num_queries: Any
) -> None:
    monkeypatch.setattr(counting, "EXACT_UP_TO", 3)
    for _ in range(6):
        make_job(JobState.COMPLETED, queue="mailers")
    make_job(JobState.DISCARDED, queue="mailers")
    make_job(JobState.AVAILABLE, queue="default")
    analyze()
    # The estimate of the set, the queues' skip scan, 7 bounded counts per queue, an EXPLAIN past the bound.
    with django_assert_num_queries(1 + 1 + 2 * 7 + 1):
        stats = bounded_stats(Job.objects.all())
    assert stats["mailers"]["discarded"] == 1 and stats["default"]["available"] == 1
    assert not stats["mailers"]["completed"].exact and stats["mailers"]["completed"] >= 4
    assert all(count.exact for state, count in stats["mailers"].items() if state != "completed")
    assert "default" not in bounded_stats(Job.objects.filter(queue="mailers"))  # only queues with a job of the set
