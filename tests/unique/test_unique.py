"""Unique jobs on both engines: inserting, options, period, keys, states, retry and update."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import django_oban
from django_oban import DuplicateJobError, JobState
from django_oban.models import Job
from django_oban.operations import RETRY, UPDATE
from tests.conftest import snapshot

from .workers import OncePerArgs, SyncAccount

pytestmark = pytest.mark.django_db


def finish(job: Job, state: str = JobState.COMPLETED) -> None:
    Job.objects.filter(pk=job.pk).update(state=state, completed_at=timezone.now())


def test_a_duplicate_returns_the_existing_job_marked_conflict():
    first = SyncAccount.enqueue({"account_id": 7})
    second = SyncAccount.enqueue({"account_id": 7, "other": "ignored: keys"})

    assert (first.conflict, second.conflict) == (False, True)
    assert second.pk == first.pk and second.args == {"account_id": 7}
    assert SyncAccount.enqueue({"account_id": 8}).pk != first.pk
    assert Job.objects.count() == 2


def test_unique_none_switches_it_off_and_a_call_may_set_it():
    SyncAccount.enqueue({"account_id": 1})
    assert not SyncAccount.enqueue({"account_id": 1}, unique=None).conflict
    django_oban_noop = OncePerArgs.enqueue({"a": 1}, unique={"fields": ["worker"]})
    assert OncePerArgs.enqueue({"a": 2}, unique={"fields": ["worker"]}).pk == django_oban_noop.pk
    assert Job.objects.count() == 3


@pytest.mark.parametrize(
    ("unique", "named"),
    [
        ({"period": -1}, "period"),
        ({"period": 1.5}, "period"),
        ({"fields": ["args", "tags"]}, "fields"),
        ({"fields": []}, "fields"),
        ({"keys": "account_id"}, "keys"),
        ({"fields": ["queue"], "keys": ["a"]}, "keys"),
        ({"states": ["available", "scheduled"]}, "states"),
        ({"states": ["available", "scheduled", "executing", "retryable", "done"]}, "states"),
        ({"perod": 60}, "perod"),
    ],
)
def test_bad_options_are_a_validation_error_naming_the_option(unique, named):
    with pytest.raises(ValidationError) as raised:
        SyncAccount.new({"account_id": 1}, unique=unique)
    assert list(raised.value.message_dict) == ["unique"]
    assert named in raised.value.message_dict["unique"][0]


def test_unique_that_is_not_a_dict_is_a_type_error():
    with pytest.raises(TypeError, match="unique must be a dict"):
        SyncAccount.new({}, unique=["period"])


def test_period_buckets_expire():
    bucket_start = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=10)
    jobs = []
    for offset in (1, 59, 61):
        job = OncePerArgs.new({"a": 1}, unique={"period": 60})
        job.inserted_at = bucket_start + timedelta(seconds=offset)
        job.save()
        jobs.append(job)

    assert [job.conflict for job in jobs] == [False, True, False]
    assert Job.objects.count() == 2


def test_a_job_stops_counting_when_it_leaves_its_states():
    first = OncePerArgs.enqueue({"a": 1})
    finish(first)
    assert not OncePerArgs.enqueue({"a": 1}).conflict

    kept = OncePerArgs.enqueue({"a": 2}, unique={"states": [*JobState.values]})
    finish(kept)
    assert OncePerArgs.enqueue({"a": 2}, unique={"states": [*JobState.values]}).pk == kept.pk


def test_insert_all_skips_duplicates_in_the_batch_and_in_the_table():
    existing = OncePerArgs.enqueue({"a": 0})
    batch = [OncePerArgs.new({"a": 0}), OncePerArgs.new({"a": 1}), OncePerArgs.new({"a": 1})]
    jobs = django_oban.insert_all([*batch, OncePerArgs.new({"a": 9}, unique=None)])

    assert [job.conflict for job in jobs] == [True, False, True, False]
    assert jobs[0].pk == existing.pk and jobs[2].pk == jobs[1].pk
    assert Job.objects.count() == 3


def test_retrying_a_duplicate_is_refused_alone_and_skipped_in_bulk():
    old = OncePerArgs.enqueue({"a": 1})
    finish(old, JobState.DISCARDED)
    live = OncePerArgs.enqueue({"a": 1})
    other = OncePerArgs.enqueue({"a": 2})
    finish(other, JobState.CANCELLED)
    before = snapshot()

    with pytest.raises(DuplicateJobError):
        django_oban.retry_job(old.pk)
    with pytest.raises(DuplicateJobError):
        old.retry()
    assert snapshot() == before

    assert list(Job.objects.all().retry_duplicates()) == [old]
    assert RETRY.duplicate_reason == "unique"
    assert django_oban.retry_many_jobs([old.pk, other.pk]) == 1
    assert Job.objects.get(pk=old.pk).state == JobState.DISCARDED
    assert Job.objects.get(pk=other.pk).state == JobState.AVAILABLE
    assert Job.objects.get(pk=live.pk).state == JobState.AVAILABLE


def test_retrying_finished_duplicates_together_retries_only_the_first():
    jobs = []
    for _ in range(3):
        job = OncePerArgs.enqueue({"a": 1})
        finish(job)
        jobs.append(job)

    assert Job.objects.all().retry() == 1
    assert [Job.objects.get(pk=job.pk).state for job in jobs] == [JobState.AVAILABLE] + [JobState.COMPLETED] * 2


@pytest.mark.postgres
def test_a_large_retry_is_planned_as_cheap_as_it_is():
    """Skipping would-be duplicates adds little to the plan of a retry of many finished jobs.

    Looked up per job of the set, the exclusion was priced past ``jit_above_cost``, and a
    100,000-job retry spent 0.6 s compiling its statement with JIT."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO oban_jobs (state, queue, worker, args, meta, tags, errors, attempt, max_attempts, priority,"
            " attempted_by, inserted_at, scheduled_at, discarded_at) SELECT 'discarded', 'bulk', 'tests.workers.Noop',"
            " '{}', '{}', '[]', '[]', 1, 1, 0, '[]', now(), now(), now() FROM generate_series(1, 5000)"
        )
        cursor.execute("ANALYZE oban_jobs")
        with CaptureQueriesContext(connection) as captured:
            assert Job.objects.filter(queue="bulk").retry() == 5000
        [statement] = [query["sql"] for query in captured.captured_queries]
        cursor.execute(f"EXPLAIN (FORMAT JSON) {statement}")
        [[plan]] = cursor.fetchone()
        cursor.execute("SELECT current_setting('jit_above_cost')::float")
        [jit_above_cost] = cursor.fetchone()

    assert plan["Plan"]["Total Cost"] < jit_above_cost


def test_an_update_into_a_duplicate_is_refused_alone_and_skipped_in_bulk():
    one = OncePerArgs.enqueue({"a": 1})
    two = OncePerArgs.enqueue({"a": 2})
    plain = OncePerArgs.enqueue({"a": 3}, unique=None)
    before = snapshot()

    with pytest.raises(DuplicateJobError):
        django_oban.update_job(two, {"args": {"a": 1}, "priority": 5})
    with pytest.raises(DuplicateJobError):
        two.update({"args": {"a": 1}})
    assert snapshot() == before

    updated = django_oban.update_many_jobs([one, two, plain], {"args": {"a": 1}, "priority": 4})
    assert [job.conflict for job in updated] == [False, True, False]
    assert UPDATE.duplicate_reason == "unique"
    assert [(job.args, job.priority) for job in Job.objects.order_by("pk")] == [
        ({"a": 1}, 4), ({"a": 2}, 0), ({"a": 1}, 4)
    ]


def test_an_update_moves_the_key_so_the_old_one_is_free():
    job = OncePerArgs.enqueue({"a": 1})
    assert Job.objects.filter(pk=job.pk).apply_update(django_oban.updates.Update.from_changes({"args": {"a": 2}})) == 1

    assert not OncePerArgs.enqueue({"a": 1}).conflict
    assert OncePerArgs.enqueue({"a": 2}).pk == job.pk


def test_an_update_by_callable_into_a_duplicate_changes_nothing():
    OncePerArgs.enqueue({"a": 1})
    two = OncePerArgs.enqueue({"a": 2})
    before = snapshot()

    with pytest.raises(DuplicateJobError):
        django_oban.update_job(two, lambda job: {"args": {"a": 1}})
    assert snapshot() == before


def test_saving_an_existing_job_into_a_duplicate_is_refused():
    OncePerArgs.enqueue({"a": 1})
    two = OncePerArgs.enqueue({"a": 2})
    two.args = {"a": 1}

    with pytest.raises(DuplicateJobError):
        two.save()
    assert Job.objects.get(pk=two.pk).args == {"a": 2}
