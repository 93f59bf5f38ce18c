"""oban_stats: counts by queue and state, and the age of each queue's oldest available job."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from django_oban.management.commands.oban_stats import format_age
from django_oban.states import JobState

from ..conftest import ALL_STATES, make_job, snapshot
from .conftest import run

pytestmark = pytest.mark.django_db


@pytest.fixture
def jobs() -> None:
    now = timezone.now()
    make_job(JobState.AVAILABLE, queue="mailers", scheduled_at=now - timedelta(minutes=5))
    make_job(JobState.AVAILABLE, queue="mailers", scheduled_at=now - timedelta(seconds=30))
    make_job(JobState.COMPLETED, queue="mailers")
    make_job(JobState.EXECUTING, queue="default")


@override_settings(OBAN={"QUEUES": {"default": 10, "mailers": 5, "idle": 1}})
def test_json_counts_every_queue_and_state(jobs, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):
        stats = run("oban_stats", "--json").json

    assert set(stats["queues"]) == {"default", "idle", "mailers"}
    mailers = stats["queues"]["mailers"]
    assert mailers["states"] == {**dict.fromkeys(ALL_STATES, 0), "available": 2, "completed": 1}
    assert mailers["total"] == 3
    assert 300 <= mailers["oldest_available_age"] < 360
    assert stats["queues"]["default"]["oldest_available_age"] is None
    assert stats["queues"]["idle"] == {"states": dict.fromkeys(ALL_STATES, 0), "total": 0, "oldest_available_age": None}
    assert stats["states"] == {**dict.fromkeys(ALL_STATES, 0), "available": 2, "completed": 1, "executing": 1}
    assert stats["total"] == 4


@override_settings(OBAN={"QUEUES": {"default": 10, "mailers": 5}})
def test_table_has_a_row_per_queue_and_a_total(jobs):
    lines = run("oban_stats").stdout.splitlines()

    assert lines[0].split() == ["queue", *ALL_STATES, "total", "oldest", "available"]
    assert lines[1].split() == ["default", "0", "0", "1", "0", "0", "0", "0", "1", "-"]
    assert lines[2].split()[:9] == ["mailers", "2", "0", "0", "0", "1", "0", "0", "3"]
    assert lines[2].split()[9] == "5m"
    assert lines[3].split() == ["(all)", "2", "0", "1", "0", "1", "0", "0", "4"]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (0, "0s"), (45.9, "45s"), (303, "5m 3s"), (7200, "2h 0m"), (3 * 86400 + 4 * 3600 + 5, "3d 4h")],
)
def test_ages_read_well(seconds, text):
    assert format_age(seconds) == text


def test_dry_run_is_accepted_like_everywhere_and_changes_nothing(jobs):
    before = snapshot()

    assert run("oban_stats", "--dry-run", "--json").json["total"] == run("oban_stats", "--json").json["total"] == 4
    assert snapshot() == before
