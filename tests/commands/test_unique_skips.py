"""oban_retry and oban_update report the unique jobs they skip (reason "unique"), in text and --json."""

from __future__ import annotations

import pytest
from django.utils import timezone

from django_oban import JobState
from django_oban.models import Job
from tests.unique.workers import OncePerArgs

from .conftest import run

pytestmark = pytest.mark.django_db


def finished(args: dict[str, int], state: str = JobState.DISCARDED) -> Job:
    job = OncePerArgs.enqueue(args)
    Job.objects.filter(pk=job.pk).update(state=state, discarded_at=timezone.now())
    return job


def states() -> dict[int, str]:
    return dict(Job.objects.values_list("pk", "state"))


@pytest.fixture
def retry_case() -> tuple[Job, Job, Job]:
    """A discarded unique job whose twin is available, a discarded one free to retry, and an available one."""
    duplicate = finished({"a": 1})
    live = OncePerArgs.enqueue({"a": 1})
    free = finished({"a": 2})
    return duplicate, free, live


@pytest.mark.parametrize("dry_run", [False, True])
def test_retry_reports_unique_skips_in_json(retry_case, dry_run):
    duplicate, free, live = retry_case
    before = states()

    report = run("oban_retry", duplicate.pk, free.pk, live.pk, "--json", *(["--dry-run"] if dry_run else [])).json

    assert report["changed"] == 1
    assert report["skipped"] == {
        "available": {"count": 1, "reason": "already available or executing"},
        "unique": {"count": 1, "reason": "unique"},
    }
    expected = before if dry_run else {**before, free.pk: JobState.AVAILABLE}
    assert states() == expected


def test_retry_reports_unique_skips_in_text_across_batches(retry_case):
    duplicate, free, live = retry_case
    twin = finished({"a": 2})  # retried after ``free`` (in a later batch), it would duplicate it

    output = run("oban_retry", duplicate.pk, free.pk, twin.pk, live.pk, "--batch-size", "1")

    assert output.stdout.splitlines() == [
        "Retried 1 job.",
        "Skipped 1 job, already available or executing: 1 available.",
        "Skipped 2 jobs, unique: would duplicate a unique job.",
    ]
    assert states() == {duplicate.pk: "discarded", free.pk: "available", twin.pk: "discarded", live.pk: "available"}


@pytest.mark.parametrize("batch_size", ["1000", "1"])
def test_update_reports_unique_skips(batch_size):
    one, two = OncePerArgs.enqueue({"a": 1}), OncePerArgs.enqueue({"a": 2})
    plain = OncePerArgs.enqueue({"a": 3}, unique=None)
    ids = [one.pk, two.pk, plain.pk]

    text = run("oban_update", *ids, "--set-args", '{"a": 1}', "--set-priority", "4", "--batch-size", batch_size)
    report = run("oban_update", *ids, "--set-priority", "5", "--json").json

    assert text.stdout.splitlines() == ["Updated 2 jobs.", "Skipped 1 job, unique: would duplicate a unique job."]
    assert list(Job.objects.order_by("pk").values_list("args", "priority")) == [
        ({"a": 1}, 5), ({"a": 2}, 5), ({"a": 1}, 5)
    ]
    assert (report["changed"], report["skipped"]) == (3, {})  # no key changes, no skip


def test_update_of_args_into_duplicates_reports_them_in_json():
    one, two = OncePerArgs.enqueue({"a": 1}), OncePerArgs.enqueue({"a": 2})

    report = run("oban_update", one.pk, two.pk, "--set-args", '{"a": 1}', "--json").json

    assert (report["changed"], report["skipped"]) == (1, {"unique": {"count": 1, "reason": "unique"}})
