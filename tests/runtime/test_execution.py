"""What running a job writes, for every kind of ``process`` result (PostgreSQL and SQLite)."""

from __future__ import annotations

import threading
import time

import pytest
from django.utils import timezone

from django_oban.models import Job
from django_oban.signals import job_finished, job_started
from django_oban.states import JobState
from django_oban.runtime.execution import JobTimeout, call_process
from django_oban.testing import drain_queue
from django_oban.workers import Record

from .jobs import AsyncSlow, AsyncUsesTheOrm, Fails, Noop, Returns, Slow, TimesOutStubbornly

pytestmark = pytest.mark.django_db


def run(job: Job) -> Job:
    drain_queue(job.queue)
    job.refresh_from_db()
    return job


def test_a_job_that_returns_completes() -> None:
    job = run(Noop.enqueue())
    assert job.state == JobState.COMPLETED
    assert job.completed_at is not None
    assert job.attempt == 1
    assert job.attempted_by == ["django_oban.testing"]


def test_any_other_return_value_completes() -> None:
    assert run(Returns.enqueue({"outcome": "other"})).state == JobState.COMPLETED


def test_record_stores_the_value_in_meta() -> None:
    job = run(Returns.enqueue({"outcome": "record"}, meta={"kept": True}))
    assert job.state == JobState.COMPLETED
    assert job.meta == {"kept": True, "recorded": {"answer": 42}}


def test_cancel_records_the_reason() -> None:
    job = run(Returns.enqueue({"outcome": "cancel"}))
    assert job.state == JobState.CANCELLED
    assert job.cancelled_at is not None
    assert "not needed" in job.errors[-1]["error"]


def test_snooze_reschedules_without_using_an_attempt() -> None:
    before = timezone.now()
    job = run(Returns.enqueue({"outcome": "snooze", "seconds": 60}))
    assert job.state == JobState.SCHEDULED
    assert job.attempt == 0
    assert job.scheduled_at >= before + timezone.timedelta(seconds=59)


def test_an_error_retries_with_backoff_then_discards_keeping_every_error() -> None:
    job = run(Fails.enqueue())
    assert job.state == JobState.RETRYABLE
    assert job.errors[0]["attempt"] == 1
    assert "ValueError: boom on attempt 1" in job.errors[0]["error"]
    assert "Traceback" in job.errors[0]["traceback"]
    drain_queue(job.queue, with_scheduled=True)
    job.refresh_from_db()
    assert job.state == JobState.DISCARDED
    assert job.discarded_at is not None
    assert [error["attempt"] for error in job.errors] == [1, 2]


def test_a_timeout_interrupts_the_job_where_it_runs_and_fails_the_attempt() -> None:
    started = time.monotonic()
    job = run(Slow.enqueue({"seconds": 60, "timeout": 0.1}))
    assert time.monotonic() - started < 30  # interrupted, not run to its end
    assert job.state == JobState.RETRYABLE
    assert job.errors[0]["error"] == "JobTimeout: timed out after 0.1s"
    assert "time.sleep(0.01)" in job.errors[0]["traceback"]  # where it was interrupted


def test_a_timed_out_job_has_ended_before_its_failure_is_written_even_if_it_swallows_the_timeout(tmp_path) -> None:
    interrupted, ended = tmp_path / "interrupted", tmp_path / "ended"
    job = run(
        TimesOutStubbornly.enqueue(
            {"seconds": 1.5, "timeout": 0.1, "interrupted": str(interrupted), "ended": str(ended)}
        )
    )
    assert interrupted.exists() and ended.exists()
    assert job.state == JobState.RETRYABLE
    assert job.errors[0]["error"] == "JobTimeout: timed out after 0.1s"


def test_a_timeout_sets_the_cancel_flag() -> None:
    seen: list[bool] = []

    class Observes(Slow):
        def process(self, job):
            try:
                super().process(job)
            finally:
                seen.append(job.cancelled())

    with pytest.raises(JobTimeout):
        call_process(Observes(), Observes.new({"seconds": 60}), 0.1)
    assert seen == [True]


def test_a_job_that_ends_in_time_is_not_interrupted_later() -> None:
    assert call_process(Returns(), Returns.new({"outcome": "record"}), 0.05) == Record({"answer": 42})
    time.sleep(0.2)  # past the deadline: nothing is raised in this thread any more
    assert sum(range(100_000)) > 0


def test_async_jobs_run_their_thread_sensitive_orm_calls_on_the_job_thread() -> None:
    job = run(AsyncUsesTheOrm.enqueue())
    assert job.state == JobState.COMPLETED
    assert job.meta["recorded"]["thread"] == threading.get_ident()


def test_async_workers_run_and_time_out() -> None:
    assert run(AsyncSlow.enqueue()).meta == {"recorded": "async"}
    slow = run(AsyncSlow.enqueue({"seconds": 5, "timeout": 0.05}))
    assert "timed out" in slow.errors[0]["error"]


def test_an_unknown_worker_fails_its_attempt_with_a_clear_error() -> None:
    job = Job.objects.create(worker="nowhere.Missing", max_attempts=1)
    job = run(job)
    assert job.state == JobState.DISCARDED
    assert "WorkerNotFound: cannot import worker 'nowhere.Missing'" in job.errors[0]["error"]


def test_a_path_that_is_not_a_worker_fails_too() -> None:
    job = run(Job.objects.create(worker="django_oban.models.Job"))
    assert "is not a django_oban.Worker subclass" in job.errors[0]["error"]


def test_drain_queue_counts_outcomes_and_leaves_other_queues() -> None:
    Noop.enqueue()
    Noop.enqueue()
    Fails.enqueue()
    other = Noop.enqueue(queue="other")
    assert drain_queue() == {"completed": 2, "retryable": 1}
    other.refresh_from_db()
    assert other.state == JobState.AVAILABLE


def test_drain_queue_runs_in_priority_order() -> None:
    seen: list[int] = []

    def record(sender, job, **kwargs):
        seen.append(job.pk)

    low = Noop.enqueue(priority=5)
    high = Noop.enqueue(priority=0)
    job_started.connect(record)
    try:
        drain_queue()
    finally:
        job_started.disconnect(record)
    assert seen == [high.pk, low.pk]


def test_signals_report_state_duration_and_error() -> None:
    finished: list[dict] = []

    def record(sender, **kwargs):
        finished.append({"sender": sender, **kwargs})

    job_finished.connect(record)
    try:
        drain_queue(Fails.enqueue().queue)
    finally:
        job_finished.disconnect(record)
    [event] = finished
    assert event["sender"] is Fails
    assert event["state"] == JobState.RETRYABLE
    assert event["duration"] >= 0
    assert "boom" in event["error"]


def test_the_final_write_does_not_overwrite_a_cancelled_job() -> None:
    from django_oban.runtime import database
    from django_oban.runtime.execution import execute

    Noop.enqueue()
    [job] = database.claim("default", 10, "n1")
    Job.objects.filter(pk=job.pk).cancel()
    database.acknowledge([execute(job)])
    job.refresh_from_db()
    assert job.state == JobState.CANCELLED


def test_a_failed_attempt_does_not_overwrite_a_deleted_or_updated_job() -> None:
    from django_oban.runtime import database
    from django_oban.runtime.execution import execute

    Fails.enqueue()
    Fails.enqueue()
    updated, deleted = database.claim("default", 10, "n1")
    Job.objects.filter(pk=updated.pk).update(meta={"by": "operator"})
    Job.objects.filter(pk=deleted.pk)._raw_delete("default")
    database.acknowledge([execute(updated), execute(deleted)])
    updated.refresh_from_db()
    assert updated.meta == {"by": "operator"}
    assert not Job.objects.filter(pk=deleted.pk).exists()


def test_oban_worker_rejects_bad_queues() -> None:
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="Bad queue 'default=x'"):
        call_command("oban_worker", "--queues", "default=x")


def test_acknowledging_with_the_next_claim_is_guarded_and_claims_in_order() -> None:
    from django_oban.runtime import database
    from django_oban.runtime.execution import execute

    Noop.enqueue()
    Noop.enqueue()
    done, cancelled = database.claim("default", 2, "n1")
    later = Noop.enqueue(priority=5)
    sooner = Noop.enqueue(priority=1)
    Job.objects.filter(pk=cancelled.pk).cancel()
    claimed = database.claim("default", 5, "n1", completed=[execute(done), execute(cancelled)])
    assert [job.pk for job in claimed] == [sooner.pk, later.pk]
    assert all(job.state == JobState.EXECUTING and job.attempt == 1 for job in claimed)
    assert claimed[0].attempted_by == ["n1"] and claimed[0].attempted_at is not None
    assert dict(Job.objects.filter(pk__in=[done.pk, cancelled.pk]).values_list("pk", "state")) == {
        done.pk: JobState.COMPLETED,
        cancelled.pk: JobState.CANCELLED,
    }
    assert Job.objects.get(pk=done.pk).completed_at is not None
    assert database.claim("default", 0, "n1", completed=[execute(job) for job in claimed]) == []
    assert not Job.objects.filter(state=JobState.EXECUTING).exists()


def test_claimed_jobs_are_like_those_the_orm_loads() -> None:
    from django_oban.runtime import database

    Noop.enqueue({"nested": {"list": [1, "two", None]}}, meta={"m": 1}, tags=["a"])
    [claimed] = database.claim("default", 1, "n1")
    loaded = Job.objects.get(pk=claimed.pk)
    for field in Job._meta.concrete_fields:
        assert getattr(claimed, field.attname) == getattr(loaded, field.attname), field.name
    assert claimed.inserted_at.utcoffset() == loaded.inserted_at.utcoffset()
    assert not claimed._state.adding and claimed._state.db == "default"


@pytest.mark.postgres
@pytest.mark.parametrize("acknowledging", [False, True])
def test_a_claim_reads_only_the_rows_it_claims_however_large_the_table(acknowledging) -> None:
    """Finished jobs stay in the table until pruned: the claim must find its rows through the
    indexes, not scan the table (``id IN (subquery)`` was planned as a hash join over every row
    once the table held a couple of thousand jobs, so each claim cost more as jobs piled up)."""
    from django.db import connection

    from django_oban import insert_all
    from django_oban.runtime import database

    insert_all([Noop.new() for _ in range(3000)])
    sql, params = database.CLAIM_SQL, ["n1", "default", 25]
    if acknowledging:
        sql, params = database.ACK_AND_CLAIM_SQL, ["{1,2}", "{1,1}", *params]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE oban_jobs")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Seq Scan" not in plan, plan
