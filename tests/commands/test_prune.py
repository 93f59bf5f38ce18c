"""oban_prune: deletes finished jobs older than a cut-off, in batches, and reports the count."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_oban.models import Job
from django_oban.states import FINISHED_STATES, INCOMPLETE_STATES, JobState

from ..conftest import make_job, snapshot
from .conftest import run

pytestmark = pytest.mark.django_db

FINISHED_AT = {"completed": "completed_at", "cancelled": "cancelled_at", "discarded": "discarded_at"}


def finished(state: str, days_ago: float) -> Job:
    return make_job(state, **{FINISHED_AT[state]: timezone.now() - timedelta(days=days_ago)})


@pytest.fixture
def old_and_recent() -> dict[str, list[Job]]:
    return {
        "old": [finished(state, days_ago=3) for state in FINISHED_STATES],
        "recent": [finished(state, days_ago=0.5) for state in FINISHED_STATES],
        "incomplete": [make_job(state, inserted_at=timezone.now() - timedelta(days=30)) for state in INCOMPLETE_STATES],
    }


def remaining() -> set[int]:
    return set(Job.objects.values_list("pk", flat=True))


def test_prunes_finished_jobs_older_than_the_cut_off(old_and_recent):
    output = run("oban_prune", "--older-than", "1d")

    assert output.stdout == "Pruned 3 jobs.\n"
    assert remaining() == {job.pk for job in old_and_recent["recent"] + old_and_recent["incomplete"]}


def test_only_the_given_states(old_and_recent):
    report = run("oban_prune", "--older-than", "1d", "--state", "completed", "--state", "discarded", "--json").json

    assert report["changed"] == 2
    assert Job.objects.filter(state=JobState.CANCELLED).count() == 2


@override_settings(OBAN={"PRUNE_AFTER": 2 * 86400})
def test_default_cut_off_is_prune_after(old_and_recent):
    assert run("oban_prune", "--json").json["changed"] == 3


def test_in_batches(old_and_recent):
    for _ in range(5):
        finished(JobState.COMPLETED, days_ago=10)

    with CaptureQueriesContext(connection) as context:
        report = run("oban_prune", "--older-than", "1d", "--batch-size", "3", "--json").json

    assert report == {
        "operation": "prune",
        "dry_run": False,
        "changed": 8,
        "skipped": {},
        "not_found": [],
        "interrupted": False,
        "error": None,
    }
    assert sum(query["sql"].startswith("DELETE") for query in context.captured_queries) == 3


def test_dry_run_counts_and_changes_nothing(old_and_recent):
    before = snapshot()

    output = run("oban_prune", "--older-than", "1d", "--dry-run")

    assert output.stdout == "Would prune 3 jobs. (Dry run: nothing was changed.)\n"
    assert snapshot() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--state", "available"], r"Invalid --state 'available': only finished jobs \(completed"),
        (["--state", "old"], "Invalid --state 'old': states are"),
        (["--older-than", "a week"], "Invalid --older-than 'a week'"),
        (["--older-than", "999999w"], "Invalid --older-than '999999w': that reaches back before the year 1."),
        (["--batch-size", "-1"], "Invalid --batch-size '-1'"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(old_and_recent, args, message):
    before = snapshot()

    with pytest.raises(CommandError, match=message):
        run("oban_prune", *args)

    assert snapshot() == before


@pytest.mark.parametrize("older_than", [timedelta(days=-5), "-5d", "-1"])
def test_a_negative_age_is_refused_instead_of_pruning_every_finished_job(old_and_recent, older_than):
    before = snapshot()

    with pytest.raises(CommandError, match="Invalid --older-than"):
        run("oban_prune", older_than=older_than)

    assert snapshot() == before
