"""oban_update: every value with the rules of update_job, validated before any write."""

from __future__ import annotations

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.core.management.base import CommandError
from django.utils import timezone

from django_oban.models import Job
from django_oban.states import JobState

from ..conftest import ALL_STATES, make_job, snapshot
from .conftest import run

pytestmark = pytest.mark.django_db

UTC = dt_timezone.utc


@pytest.mark.parametrize(
    ("args", "field", "expected"),
    [
        (["--set-priority", "7"], "priority", 7),
        (["--set-queue", " mailers "], "queue", "mailers"),
        (["--set-worker", "app.workers.Other"], "worker", "app.workers.Other"),
        (["--set-tags", "Nightly, a,,b,a"], "tags", ["a", "b", "nightly"]),
        (["--set-tags", ""], "tags", []),
        (["--set-args", '{"to": ["x@example.com"]}'], "args", {"to": ["x@example.com"]}),
        (["--set-max-attempts", "3"], "max_attempts", 3),
        (["--scheduled-at", "2031-01-02T03:04:05+00:00"], "scheduled_at", datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ],
)
def test_sets_each_field(args, field, expected):
    job = make_job(JobState.RETRYABLE, tags=["old"], args={"old": 1}, attempt=2)
    untouched = make_job(JobState.RETRYABLE, tags=["old"], args={"old": 1}, attempt=2)
    before = Job.objects.filter(pk=untouched.pk).values().get()

    output = run("oban_update", job.pk, *args)

    assert output.stdout == "Updated 1 job.\n"
    assert getattr(Job.objects.get(pk=job.pk), field) == expected
    assert Job.objects.filter(pk=untouched.pk).values().get() == before


def test_set_meta_merges_into_meta():
    job = make_job(meta={"keep": 1, "replace": "old"})
    other = make_job(meta={"other": True})

    run("oban_update", job.pk, other.pk, "--set-meta", '{"replace": "new", "added": [1, 2]}')

    assert Job.objects.get(pk=job.pk).meta == {"keep": 1, "replace": "new", "added": [1, 2]}
    assert Job.objects.get(pk=other.pk).meta == {"other": True, "replace": "new", "added": [1, 2]}


def test_add_tag_keeps_the_other_tags_normalised():
    job = make_job(tags=["b", "z"])
    bare = make_job(tags=[])

    run("oban_update", job.pk, bare.pk, "--add-tag", " Urgent ", "--add-tag", "b", "--add-tag", "a-b")

    assert Job.objects.get(pk=job.pk).tags == ["a-b", "b", "urgent", "z"]
    assert Job.objects.get(pk=bare.pk).tags == ["a-b", "b", "urgent"]


def test_set_tags_and_add_tag_together_set_both():
    job = make_job(tags=["old"])

    run("oban_update", job.pk, "--set-tags", "x", "--add-tag", "y")

    assert Job.objects.get(pk=job.pk).tags == ["x", "y"]


def test_merges_combine_with_other_changes_by_filter():
    jobs = [make_job(queue="mailers", meta={"n": n}, tags=["t"]) for n in range(3)]

    report = run(
        "oban_update", "--queue", "mailers", "--set-queue", "default", "--set-meta", '{"moved": true}',
        "--add-tag", "moved", "--json",
    ).json

    assert report["changed"] == 3
    assert [(job.queue, job.meta, job.tags) for job in Job.objects.order_by("pk")] == [
        ("default", {"n": n, "moved": True}, ["moved", "t"]) for n in range(len(jobs))
    ]


def test_schedule_in_reschedules_and_moves_state():
    available = make_job(JobState.AVAILABLE)
    scheduled = make_job(JobState.SCHEDULED)
    before = timezone.now()

    run("oban_update", available.pk, "--schedule-in", "2h")
    run("oban_update", scheduled.pk, "--schedule-in", "0")

    available.refresh_from_db()
    scheduled.refresh_from_db()
    assert available.state == JobState.SCHEDULED
    assert before + timedelta(hours=2) <= available.scheduled_at <= timezone.now() + timedelta(hours=2)
    assert scheduled.state == JobState.AVAILABLE


def test_every_job_of_a_run_gets_the_same_scheduled_at():
    for _ in range(5):
        make_job(JobState.AVAILABLE, queue="reports")

    run("oban_update", "--queue", "reports", "--schedule-in", "1d", "--batch-size", "2")

    assert Job.objects.values("scheduled_at").distinct().count() == 1


def test_executing_jobs_are_updated_too():
    job = make_job(JobState.EXECUTING, priority=5)

    report = run("oban_update", job.pk, "--set-priority", "0", "--json").json

    assert (report["changed"], report["skipped"]) == (1, {})
    assert Job.objects.get(pk=job.pk).priority == 0


def test_missing_ids_are_reported_while_the_others_are_updated():
    job = make_job()

    output = run("oban_update", job.pk, 999_999, "--set-priority", "4")

    assert output.stdout.splitlines() == ["Updated 1 job.", "Not found: 999999."]
    assert Job.objects.get(pk=job.pk).priority == 4


def test_dry_run_changes_nothing():
    jobs = [make_job(state) for state in ALL_STATES]
    before = snapshot()

    output = run("oban_update", *[job.pk for job in jobs], "--set-priority", "9", "--set-meta", '{"a": 1}', "--dry-run")

    assert output.stdout == "Would update 7 jobs. (Dry run: nothing was changed.)\n"
    assert snapshot() == before


BAD_VALUES = [
    ([], "Nothing to update: give at least one of --set-priority,"),
    (["--set-priority", "12"], r"Invalid --set-priority '12': priority must be an integer from 0 to 9"),
    (["--set-priority", "-1"], r"Invalid --set-priority '-1'"),
    (["--set-priority", "high"], r"Invalid --set-priority 'high': expected an integer."),
    (["--set-queue", "  "], r"Invalid --set-queue '  ': queue must be a non-blank string"),
    (["--set-worker", ""], r"Invalid --set-worker ''"),
    (["--set-meta", "{x"], r"Invalid --set-meta '\{x': not valid JSON"),
    (["--set-meta", "[1]"], r"Invalid --set-meta '\[1\]': meta must be a JSON object"),
    (["--set-meta", '{"n": NaN}'], r"Invalid --set-meta .*(must be JSON serialisable|JSON cannot represent)"),
    (["--set-args", "null"], r"Invalid --set-args 'null': args must be a JSON object"),
    (["--set-max-attempts", "0"], r"Invalid --set-max-attempts '0': max_attempts must be an integer of at least 1"),
    (["--set-max-attempts", "3000000000"], r"Invalid --set-max-attempts '3000000000': max_attempts must be at most"),
    (["--set-max-attempts", "2"], r"Invalid --set-max-attempts 2: max_attempts cannot be lower than the attempts already made by job \d+\."),
    (["--schedule-in", "5x"], r"Invalid --schedule-in '5x': expected seconds"),
    (["--schedule-in", "99999999999d"], r"Invalid --schedule-in '99999999999d'"),
    (["--scheduled-at", "tomorrow"], r"Invalid --scheduled-at 'tomorrow': scheduled_at must be a datetime"),
    (["--scheduled-at", "2030-01-01T10:00:00Z", "--schedule-in", "5m"], "Give --schedule-in or --scheduled-at, not"),
    (["--add-tag", " "], r"Invalid --add-tag ' ': expected a non-blank name."),
    # PostgreSQL cannot store NUL characters: refused on every database, before any write.
    (["--set-args", '{"a": "x\\u0000"}'], r"Invalid --set-args .*: contains a NUL character \(\\u0000\)"),
    (["--set-meta", '{"\\u0000": 1}'], r"Invalid --set-meta .*: contains a NUL character"),
    (["--set-queue", "a\x00"], r"Invalid --set-queue 'a\\x00': contains a NUL character"),
    (["--set-tags", "a,b\x00"], r"Invalid --set-tags 'a,b\\x00': contains a NUL character"),
    (["--add-tag", "\x00"], r"Invalid --add-tag '\\x00': contains a NUL character"),
    # One bad value among good ones still changes nothing.
    (["--set-priority", "1", "--set-queue", "x", "--set-meta", "[]"], r"Invalid --set-meta '\[\]'"),
]


@pytest.mark.parametrize(("args", "message"), BAD_VALUES)
def test_bad_values_are_refused_and_change_nothing(args, message):
    for state in ALL_STATES:
        make_job(state)
    make_job(JobState.DISCARDED, attempt=5, max_attempts=5)
    before = snapshot()

    with pytest.raises(CommandError, match=message) as error:
        run("oban_update", "--older-than", "0", "--batch-size", "2", *args)

    assert error.value.returncode == 1
    assert snapshot() == before


@pytest.mark.parametrize("count", [2, 30])
def test_plain_update_is_set_based(count, django_assert_max_num_queries):
    for _ in range(count):
        make_job(queue="mailers")

    # The report's GROUP BY, then one UPDATE … RETURNING inside savepoints.
    with django_assert_max_num_queries(6):
        report = run("oban_update", "--queue", "mailers", "--set-priority", "3", "--json").json

    assert report["changed"] == count


@pytest.mark.postgres
@pytest.mark.parametrize("count", [2, 30])
def test_merges_are_set_based_on_postgresql(count, django_assert_max_num_queries):
    for _ in range(count):
        make_job(queue="mailers", meta={"keep": 1}, tags=["t"])

    with django_assert_max_num_queries(4):
        report = run("oban_update", "--queue", "mailers", "--set-meta", '{"a": 1}', "--add-tag", "u", "--json").json

    assert report["changed"] == count
    assert all(row == ({"keep": 1, "a": 1}, ["t", "u"]) for row in Job.objects.values_list("meta", "tags"))
