"""A worker node in a thread on real PostgreSQL: wake-up, live cancellation, housekeeping."""

from __future__ import annotations

import threading
import time

import pytest
from django.utils import timezone

from django_oban.models import Job, Node
from django_oban.states import JobState

from .helpers import running_worker, wait_until
from .jobs import Cancellable, Fails, Fast, Noop, Returns

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def state_of(job: Job) -> str:
    return Job.objects.values_list("state", flat=True).get(pk=job.pk)


def test_an_idle_worker_runs_an_inserted_job_at_once_without_polling() -> None:
    with running_worker(poll_interval=30) as runner:
        wait_until(lambda: runner.is_leader or Node.objects.filter(name="test-node").exists())
        job = Noop.enqueue()
        wait_until(lambda: state_of(job) == JobState.COMPLETED, timeout=5)


def test_many_jobs_complete_in_batches_and_outcomes_are_written() -> None:
    with running_worker({"default": 10, "mailers": 2}):
        jobs = [Fast.enqueue() for _ in range(200)] + [Returns.enqueue({"outcome": "record"}, queue="mailers")]
        wait_until(lambda: Job.objects.filter(state=JobState.COMPLETED).count() == len(jobs), timeout=20)
    assert Job.objects.get(pk=jobs[-1].pk).meta == {"recorded": {"answer": 42}}


def test_cancelling_a_running_job_stops_it_at_its_next_check_and_it_stays_cancelled(tmp_path) -> None:
    started = tmp_path / "started"
    with running_worker() as runner:
        job = Cancellable.enqueue({"started": str(started)})
        wait_until(started.exists)
        cancelled_at = time.monotonic()
        assert Job.objects.filter(pk=job.pk).cancel() == 1
        assert state_of(job) == JobState.CANCELLED
        wait_until(lambda: job.pk not in runner.running, timeout=5)
        assert time.monotonic() - cancelled_at < 1
    job.refresh_from_db()
    assert job.state == JobState.CANCELLED
    assert job.meta == {}  # the job's own Cancel/Record never overwrote the operator's cancel


def test_deleting_or_updating_a_running_job_is_not_overwritten(tmp_path) -> None:
    with running_worker() as runner:
        updated = Cancellable.enqueue({"started": str(tmp_path / "a"), "seconds": 0.5})
        deleted = Cancellable.enqueue({"started": str(tmp_path / "b"), "seconds": 0.5})
        wait_until(lambda: (tmp_path / "a").exists() and (tmp_path / "b").exists())
        Job.objects.filter(pk=updated.pk).update(state=JobState.AVAILABLE, queue="parked")
        Job.objects.filter(pk=deleted.pk)._raw_delete("default")
        wait_until(lambda: not runner.running, timeout=5)
    updated.refresh_from_db()
    assert (updated.state, updated.queue, updated.meta) == (JobState.AVAILABLE, "parked", {})
    assert not Job.objects.filter(pk=deleted.pk).exists()


def test_the_leader_stages_due_retries_which_then_run() -> None:
    job = Fails.enqueue()
    with running_worker(heartbeat_interval=0.1):
        wait_until(lambda: state_of(job) == JobState.DISCARDED, timeout=10)
    job.refresh_from_db()
    assert [error["attempt"] for error in job.errors] == [1, 2]


def test_the_leader_rescues_jobs_of_a_silent_node_and_prunes_old_jobs() -> None:
    long_ago = timezone.now() - timezone.timedelta(hours=1)
    Node.objects.create(name="dead-node", heartbeat_at=long_ago)
    orphan = Job.objects.create(worker="tests.runtime.jobs.Noop", queue="parked")
    out_of_attempts = Job.objects.create(worker="tests.runtime.jobs.Noop", queue="parked", max_attempts=1)
    fresh = Job.objects.create(worker="tests.runtime.jobs.Noop", queue="parked")
    Job.objects.filter(pk__in=[orphan.pk, out_of_attempts.pk]).update(
        state=JobState.EXECUTING, attempt=1, attempted_at=long_ago, attempted_by=["dead-node"]
    )
    Job.objects.filter(pk=fresh.pk).update(
        state=JobState.EXECUTING, attempt=1, attempted_at=timezone.now(), attempted_by=["dead-node"]
    )
    old = Job.objects.create(worker="tests.runtime.jobs.Noop", queue="parked")
    Job.objects.filter(pk=old.pk).update(state=JobState.COMPLETED, completed_at=long_ago)
    with running_worker({"default": 1}, rescue_after=60, prune_after=60):
        wait_until(lambda: state_of(orphan) == JobState.AVAILABLE)
        wait_until(lambda: not Job.objects.filter(pk=old.pk).exists())
    orphan.refresh_from_db()
    assert orphan.meta["rescued"]["node"] == "dead-node"
    assert state_of(out_of_attempts) == JobState.DISCARDED
    assert state_of(fresh) == JobState.EXECUTING  # its attempt is younger than RESCUE_AFTER


def test_only_one_node_leads() -> None:
    with running_worker(node="a") as first, running_worker(node="b") as second:
        wait_until(lambda: Node.objects.count() == 2)
        wait_until(lambda: first.is_leader or second.is_leader)
        assert not (first.is_leader and second.is_leader)
    assert Node.objects.count() == 0  # a clean shutdown removes the heartbeat


def test_the_leader_forgets_nodes_silent_for_long_and_keeps_the_others() -> None:
    Node.objects.create(name="long-dead", heartbeat_at=timezone.now() - timezone.timedelta(days=2))
    Node.objects.create(name="recently-dead", heartbeat_at=timezone.now() - timezone.timedelta(hours=1))
    with running_worker(forget_nodes_after=3 * 3600) as runner:
        wait_until(lambda: not Node.objects.filter(name="long-dead").exists())
        assert runner.is_leader
        assert set(Node.objects.values_list("name", flat=True)) == {"recently-dead", "test-node"}


def test_by_default_nodes_are_forgotten_after_a_day_or_ten_rescue_periods() -> None:
    from django_oban.runtime import Runner

    assert Runner({"default": 1}, "n", rescue_after=60).forget_nodes_after == 24 * 3600
    assert Runner({"default": 1}, "n", rescue_after=3 * 3600).forget_nodes_after == 30 * 3600


def test_a_job_cancelled_during_the_shutdown_grace_period_sees_it(tmp_path) -> None:
    started = tmp_path / "started"
    with running_worker(shutdown_grace=60) as runner:
        job = Cancellable.enqueue({"started": str(started), "seconds": 60})
        wait_until(started.exists)
        runner.stopping.set()
        Job.objects.filter(pk=job.pk).cancel()
        wait_until(lambda: job.pk not in runner.running, timeout=10)  # far less than the 60 s it would run
    job.refresh_from_db()
    assert job.state == JobState.CANCELLED


def test_a_claim_committed_but_never_received_is_released_and_run_once(monkeypatch) -> None:
    from django.db import OperationalError

    from django_oban.runtime import database

    real_execute = database._execute
    dropped: list[int] = []

    def drop_first_claim_result(sql, params, using, returns_rows=True):
        rows = real_execute(sql, params, using, returns_rows)
        if rows and not dropped:
            dropped.extend(row[0] for row in rows)
            raise OperationalError("server closed the connection unexpectedly")
        return rows

    monkeypatch.setattr(database, "_execute", drop_first_claim_result)
    jobs = [Noop.enqueue() for _ in range(20)]
    with running_worker({"default": 5}):
        wait_until(lambda: Job.objects.filter(state=JobState.COMPLETED).count() == len(jobs), timeout=20)
    assert dropped
    lost = Job.objects.filter(pk__in=dropped)
    assert {(job.attempt, tuple(job.attempted_by)) for job in lost} == {(1, ("test-node",))}


def test_a_long_prune_does_not_hold_up_heartbeats_staging_or_rescue(monkeypatch) -> None:
    from django_oban.querysets import JobQuerySet

    pruning, release = threading.Event(), threading.Event()

    def slow_prune(self, older_than, **options):
        pruning.set()
        release.wait(60)
        return 0

    monkeypatch.setattr(JobQuerySet, "prune", slow_prune)
    try:
        with running_worker({"default": 1}, heartbeat_interval=0.1, rescue_after=60) as runner:
            wait_until(pruning.is_set)
            orphan = Job.objects.create(worker="tests.runtime.jobs.Noop", queue="parked")
            Job.objects.filter(pk=orphan.pk).update(
                state=JobState.EXECUTING,
                attempt=1,
                attempted_at=timezone.now() - timezone.timedelta(hours=1),
                attempted_by=["dead-node"],
            )
            beat = Node.objects.get(name="test-node").heartbeat_at
            due = Noop.enqueue(schedule_in=0.5)  # staged by the leader once due
            wait_until(lambda: state_of(due) == JobState.COMPLETED, timeout=20)
            wait_until(lambda: state_of(orphan) == JobState.AVAILABLE, timeout=20)
            wait_until(lambda: Node.objects.get(name="test-node").heartbeat_at > beat, timeout=20)
            assert runner.pruner is not None and runner.pruner.is_alive()
            release.set()
            wait_until(lambda: not runner.pruner.is_alive())
    finally:
        release.set()
