"""oban_cancel, oban_retry and oban_delete: same rules as the API, by id and by filter."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from django_oban.models import Job
from django_oban.states import FINISHED_STATES, INCOMPLETE_STATES, JobState

from ..conftest import ALL_STATES, make_job, snapshot
from .conftest import run

pytestmark = pytest.mark.django_db


def states() -> dict[int, str]:
    return dict(Job.objects.values_list("pk", "state"))


def test_cancel_by_id_reports_changed_skipped_and_not_found():
    available, executing = make_job(JobState.AVAILABLE), make_job(JobState.EXECUTING)
    completed = make_job(JobState.COMPLETED)

    output = run("oban_cancel", available.pk, executing.pk, completed.pk, 999_999)

    assert states() == {available.pk: "cancelled", executing.pk: "cancelled", completed.pk: "completed"}
    assert output.stdout.splitlines() == [
        "Cancelled 2 jobs.",
        "Skipped 1 job, already finished: 1 completed.",
        "Not found: 999999.",
    ]


def test_json_report_is_one_object_with_changed_skipped_and_not_found():
    jobs = [make_job(state) for state in ALL_STATES]

    output = run("oban_cancel", *[job.pk for job in jobs], 999_998, 999_999, "--json")

    assert len(output.stdout.strip().splitlines()) == 1
    assert output.json == {
        "operation": "cancel",
        "dry_run": False,
        "changed": 4,
        "skipped": {
            "completed": {"count": 1, "reason": "already finished"},
            "discarded": {"count": 1, "reason": "already finished"},
            "cancelled": {"count": 1, "reason": "already finished"},
        },
        "not_found": [999_998, 999_999],
        "interrupted": False,
        "error": None,
    }
    assert output.stderr == ""


@pytest.mark.parametrize("state", INCOMPLETE_STATES)
def test_cancel_by_filter_cancels_incomplete_jobs(state):
    job = make_job(state, queue="mailers")
    other_queue = make_job(state, queue="default")

    assert run("oban_cancel", "--queue", "mailers", "--json").json["changed"] == 1

    assert states() == {job.pk: JobState.CANCELLED, other_queue.pk: state}
    assert Job.objects.get(pk=job.pk).cancelled_at is not None


def test_retry_follows_the_api_rules():
    discarded = make_job(JobState.DISCARDED, attempt=5, max_attempts=5)
    scheduled = make_job(JobState.SCHEDULED)
    available, executing = make_job(JobState.AVAILABLE), make_job(JobState.EXECUTING)
    before = timezone.now()

    output = run("oban_retry", discarded.pk, scheduled.pk, available.pk, executing.pk)

    assert output.stdout.splitlines() == [
        "Retried 2 jobs.",
        "Skipped 2 jobs, already available or executing: 1 available, 1 executing.",
    ]
    discarded.refresh_from_db()
    assert (discarded.state, discarded.max_attempts, discarded.discarded_at) == (JobState.AVAILABLE, 6, None)
    assert discarded.scheduled_at >= before
    assert states()[scheduled.pk] == JobState.AVAILABLE
    assert states()[executing.pk] == JobState.EXECUTING


def test_retry_by_state_filter():
    discarded = [make_job(JobState.DISCARDED) for _ in range(3)]
    completed = make_job(JobState.COMPLETED)

    assert run("oban_retry", "--state", "discarded", "--json").json["changed"] == 3

    assert all(states()[job.pk] == JobState.AVAILABLE for job in discarded)
    assert states()[completed.pk] == JobState.COMPLETED


def test_delete_skips_executing_jobs():
    for state in ALL_STATES:
        make_job(state, queue="reports")

    report = run("oban_delete", "--queue", "reports", "--json").json

    assert report["changed"] == len(ALL_STATES) - 1
    assert report["skipped"] == {"executing": {"count": 1, "reason": "still running"}}
    assert list(Job.objects.values_list("state", flat=True)) == [JobState.EXECUTING]


@pytest.mark.parametrize("command", ["oban_cancel", "oban_retry", "oban_delete"])
def test_dry_run_reports_and_changes_nothing(command):
    jobs = [make_job(state) for state in ALL_STATES]
    before = snapshot()

    dry = run(command, *[job.pk for job in jobs], 999_999, "--dry-run", "--json").json

    assert snapshot() == before
    real = run(command, *[job.pk for job in jobs], 999_999, "--json").json
    assert {**dry, "dry_run": False} == real


def test_dry_run_says_so_in_words():
    make_job(JobState.AVAILABLE, queue="mailers")
    make_job(JobState.COMPLETED, queue="mailers")

    output = run("oban_cancel", "--queue", "mailers", "--dry-run")

    assert output.stdout.splitlines() == [
        "Would cancel 1 job. (Dry run: nothing was changed.)",
        "Skipped 1 job, already finished: 1 completed.",
    ]


def test_no_matching_jobs_is_not_an_error():
    output = run("oban_retry", "--queue", "nowhere")

    assert output.stdout == "Retried 0 jobs.\n"


@pytest.mark.parametrize(("command", "states"), [("oban_cancel", INCOMPLETE_STATES), ("oban_delete", FINISHED_STATES)])
@pytest.mark.parametrize("count", [2, 40])
def test_work_is_set_based(command, states, count, django_assert_max_num_queries):
    for index in range(count):
        make_job(states[index % len(states)], queue="mailers")

    # A GROUP BY for the report, then one statement (in a savepoint here) for every job.
    with django_assert_max_num_queries(4):
        report = run(command, "--queue", "mailers", "--json").json

    assert report["changed"] == count


def test_ids_are_deduplicated_and_not_found_kept_in_order():
    job = make_job(JobState.AVAILABLE)

    report = json.loads(run("oban_cancel", 42_000, job.pk, job.pk, 41_000, "--json").stdout)

    assert report["changed"] == 1
    assert report["not_found"] == [42_000, 41_000]
