"""One ``Update``: replace or merge meta, replace or add tags, one statement on PostgreSQL, one max_attempts rule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

import django_oban
from django_oban import Add, Merge
from django_oban.models import Job
from django_oban.states import JobState
from django_oban.updates import Update

from .conftest import make_job, snapshot

pytestmark = pytest.mark.django_db

MIXED = {
    "priority": 3,
    "queue": "mailers",
    "meta": Merge({"batch": 7}),
    "tags": Add(["Urgent", "a"]),
    "schedule_in": 3600,
}


def test_merge_sets_its_keys_and_keeps_the_others():
    job = make_job(meta={"keep": 1, "batch": 0})
    other = make_job(meta={})

    updated = django_oban.update_many_jobs([job, other], {"meta": Merge({"batch": 7, "new": [1]})})

    assert [j.meta for j in updated] == [{"keep": 1, "batch": 7, "new": [1]}, {"batch": 7, "new": [1]}]
    assert job.meta == {"keep": 1, "batch": 7, "new": [1]}  # the instance passed in is refreshed


def test_a_plain_dict_still_replaces_meta():
    job = make_job(meta={"keep": 1})

    assert django_oban.update_job(job, {"meta": {"only": 2}}).meta == {"only": 2}


def test_add_keeps_each_jobs_tags_and_normalises():
    tagged = make_job(tags=["b", "urgent"])
    bare = make_job(tags=[])

    Job.objects.filter(pk__in=[tagged.pk, bare.pk]).update_many({"tags": Add([" Urgent", "a", "a"])})

    assert Job.objects.get(pk=tagged.pk).tags == ["a", "b", "urgent"]
    assert Job.objects.get(pk=bare.pk).tags == ["a", "urgent"]


def test_a_mixed_update_applies_every_change():
    job = make_job(meta={"keep": 1}, tags=["b"])

    assert Job.objects.filter(pk=job.pk).apply_update(Update.from_changes(MIXED)) == 1

    job.refresh_from_db()
    assert (job.priority, job.queue) == (3, "mailers")
    assert (job.meta, job.tags) == ({"keep": 1, "batch": 7}, ["a", "b", "urgent"])
    assert job.state == JobState.SCHEDULED  # moved into the future
    assert job.scheduled_at > timezone.now() + timedelta(minutes=59)


@pytest.mark.postgres
def test_a_mixed_update_is_one_statement(django_assert_num_queries):
    jobs = [make_job(meta={"n": n}, tags=["b"]) for n in range(5)]
    queryset = Job.objects.filter(pk__in=[job.pk for job in jobs])
    update = Update.from_changes(MIXED)

    with django_assert_num_queries(1) as counted:
        assert queryset.apply_update(update) == 5
    with django_assert_num_queries(1):
        rows = queryset.update_many({**MIXED, "priority": 4})

    assert counted.captured_queries[0]["sql"].startswith("UPDATE")
    assert [(row.priority, row.meta, row.tags, row.state) for row in rows] == [
        (4, {"n": n, "batch": 7}, ["a", "b", "urgent"], JobState.SCHEDULED) for n in range(5)
    ]


@pytest.mark.postgres
def test_setting_max_attempts_in_a_mixed_update_is_one_statement_in_a_savepoint(django_assert_max_num_queries):
    jobs = [make_job() for _ in range(3)]

    with django_assert_max_num_queries(3) as counted:
        updated = Job.objects.filter(pk__in=[job.pk for job in jobs]).update_many({**MIXED, "max_attempts": 4})

    transaction_control = ("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT")
    statements = [query["sql"] for query in counted.captured_queries]
    statements = [sql for sql in statements if not sql.startswith(transaction_control)]
    assert len(statements) == 1 and statements[0].startswith("UPDATE")
    assert {job.max_attempts for job in updated} == {4}


def test_a_callable_may_merge_and_add():
    jobs = [make_job(meta={"keep": True}, tags=["x"]) for _ in range(2)]

    django_oban.update_many_jobs(jobs, lambda job: {"meta": Merge({"seen": job.pk}), "tags": Add(["y"])})

    assert [(job.meta, job.tags) for job in jobs] == [({"keep": True, "seen": job.pk}, ["x", "y"]) for job in jobs]


def test_job_update_merges():
    job = make_job(meta={"keep": 1})

    assert job.update({"meta": Merge({"more": 2})}).meta == {"keep": 1, "more": 2}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"tags": Merge({"a": 1})}, "tags", "Merge applies to args and meta"),
        ({"meta": Add(["a"])}, "meta", "Add applies to tags"),
        ({"meta": Merge([1])}, "meta", "meta must be a JSON object"),
        ({"tags": Add("urgent")}, "tags", "tags must be a list of strings"),
        ({"state": Merge({})}, "state", "Merge applies to args and meta"),
    ],
)
def test_misused_markers_are_refused_naming_the_field(changes, field, message):
    make_job()
    before = snapshot()

    with pytest.raises(ValidationError) as raised:
        Job.objects.all().update_many({"priority": 1, **changes})

    assert message in " ".join(raised.value.message_dict[field])
    assert snapshot() == before


def test_every_bad_change_is_reported_at_once_and_nothing_changes():
    make_job()
    before = snapshot()

    with pytest.raises(ValidationError) as raised:
        Job.objects.all().update_many({"priority": 12, "meta": Merge("x"), "tags": Add([1])})

    assert set(raised.value.message_dict) == {"priority", "meta", "tags"}
    assert snapshot() == before


def test_an_update_is_validated_once_and_reused():
    update = Update.from_changes({"priority": 2, "tags": Add(["a"])})

    assert Update.from_changes(update) is update
    assert update.describe() == "priority=2, tags added: a"


def test_max_attempts_below_a_jobs_attempt_has_one_message_everywhere():
    busy = make_job(JobState.RETRYABLE, attempt=5, max_attempts=9)
    message = f"max_attempts cannot be lower than the attempts already made by job {busy.pk}."

    with pytest.raises(ValidationError) as from_update:
        Job.objects.filter(pk=busy.pk).update_many({"max_attempts": 2})
    with pytest.raises(ValidationError) as from_check:
        Job.objects.all().check_max_attempts(2)
    busy.max_attempts = 2
    with pytest.raises(ValidationError) as from_clean:
        busy.clean()

    assert from_update.value.message_dict == from_check.value.message_dict == from_clean.value.message_dict
    assert from_update.value.message_dict == {"max_attempts": [message]}
    assert Job.objects.get(pk=busy.pk).max_attempts == 9


def test_apply_update_counts_and_an_empty_update_changes_nothing():
    jobs = [make_job() for _ in range(3)]
    before = snapshot()

    assert Job.objects.all().apply_update(Update.from_changes({})) == 3
    assert snapshot() == before
    assert Job.objects.filter(pk=jobs[0].pk).apply_update(Update.from_changes({"priority": 9})) == 1
