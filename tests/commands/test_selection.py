"""Choosing jobs: ids or the shared filters, never neither, and input validated before any write."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management.base import CommandError
from django.utils import timezone

from django_oban.management.arguments import parse_duration
from django_oban.states import JobState

from ..conftest import ALL_STATES, make_job, snapshot
from .conftest import run

pytestmark = pytest.mark.django_db

JOB_COMMANDS = ["oban_cancel", "oban_retry", "oban_delete", "oban_update"]
# oban_update also needs a value to set; any valid one will do for these tests.
VALUES = {"oban_update": ["--set-priority", "1"]}


@pytest.fixture
def every_state() -> None:
    for state in ALL_STATES:
        make_job(state, queue="default", tags=["nightly"])


@pytest.mark.parametrize("command", JOB_COMMANDS)
def test_refuses_to_run_without_ids_or_filters(command, every_state):
    before = snapshot()

    with pytest.raises(CommandError, match="Give job ids or at least one filter") as error:
        run(command, *VALUES.get(command, []))

    assert error.value.returncode == 1
    assert snapshot() == before


BAD_SELECTIONS = [
    (["abc"], "Invalid job id 'abc': expected a positive integer."),
    (["7", "1.5"], "Invalid job id '1.5'"),
    (["0"], "Invalid job id '0'"),
    (["²"], "Invalid job id '²'"),
    (["--state", "finished"], "Invalid --state 'finished': states are available, scheduled,"),
    (["--state", "available", "--state", "done"], "Invalid --state 'done'"),
    (["--older-than", "2 hours"], "Invalid --older-than '2 hours': expected seconds, or a number with a unit"),
    (["--older-than", "h"], "Invalid --older-than 'h'"),
    (["--older-than", "1000000d"], "Invalid --older-than '1000000d': that reaches back before the year 1."),
    (["--queue", " "], "Invalid --queue ' ': expected a non-blank name."),
    (["--worker", ""], "Invalid --worker ''"),
    (["--tag", "  "], "Invalid --tag '  '"),
    (["9223372036854775808"], "Invalid job id '9223372036854775808': ids are at most 9223372036854775807."),
    (["9" * 5000], "Invalid job id '9999.*': ids are at most"),
    (["000"], "Invalid job id '000': expected a positive integer."),
    (["--queue", "mail\x00ers"], r"Invalid --queue 'mail\\x00ers': contains a NUL character"),
    (["--tag", "\x00"], r"Invalid --tag '\\x00': contains a NUL character"),
    (["1", "--queue", "default"], r"Give job ids or filters, not both \(got ids and --queue\)."),
    (["--queue", "default", "--batch-size", "0"], "Invalid --batch-size '0': must be at least 1."),
    (["--queue", "default", "--batch-size", "many"], "Invalid --batch-size 'many': expected an integer."),
]


@pytest.mark.parametrize("command", JOB_COMMANDS)
@pytest.mark.parametrize(("args", "message"), BAD_SELECTIONS)
def test_bad_selection_is_refused_and_changes_nothing(command, args, message, every_state):
    before = snapshot()

    with pytest.raises(CommandError, match=message):
        run(command, *args, *VALUES.get(command, []))

    assert snapshot() == before


def test_filters_combine_and_repeated_flags_match_any_value():
    old = timezone.now() - timedelta(days=2)
    wanted = [
        make_job(JobState.RETRYABLE, queue="mailers", worker="app.Send", tags=["a", "b"], inserted_at=old),
        make_job(JobState.SCHEDULED, queue="reports", worker="app.Send", tags=["a", "b", "c"], inserted_at=old),
    ]
    make_job(JobState.RETRYABLE, queue="default", worker="app.Send", tags=["a", "b"], inserted_at=old)  # queue
    make_job(JobState.AVAILABLE, queue="mailers", worker="app.Send", tags=["a", "b"], inserted_at=old)  # state
    make_job(JobState.RETRYABLE, queue="mailers", worker="app.Other", tags=["a", "b"], inserted_at=old)  # worker
    make_job(JobState.RETRYABLE, queue="mailers", worker="app.Send", tags=["a"], inserted_at=old)  # tags
    make_job(JobState.RETRYABLE, queue="mailers", worker="app.Send", tags=["a", "b"])  # too recent

    report = run(
        "oban_cancel",
        *["--queue", "mailers", "--queue", "reports", "--state", "retryable", "--state", "scheduled"],
        *["--worker", "app.Send", "--tag", "A", "--tag", "b", "--older-than", "1d", "--json"],
    ).json

    assert report["changed"] == 2
    assert {job.pk for job in wanted} == set(
        type(wanted[0]).objects.filter(state=JobState.CANCELLED).values_list("pk", flat=True)
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90", timedelta(seconds=90)),
        ("1.5", timedelta(seconds=1.5)),
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1w", timedelta(weeks=1)),
        ("1h30m", timedelta(minutes=90)),
        (" 2H ", timedelta(hours=2)),
    ],
)
def test_durations(text, expected):
    assert parse_duration(text, "--older-than") == expected


@pytest.mark.parametrize("text", ["", "h", "2 h", "-5m", "5x", "1h-30m", "1e3", "99999999999999d"])
def test_bad_durations_name_the_value(text):
    with pytest.raises(CommandError, match=f"Invalid --older-than {text!r}"):
        parse_duration(text, "--older-than")
