"""The real ``manage.py oban_worker`` in subprocesses, on real PostgreSQL."""

from __future__ import annotations

import signal
from collections import Counter

import pytest
from django.db import connection

from django_oban import insert_all
from django_oban.models import Job
from django_oban.states import JobState
from tests.pgcluster import ENV_DATA_DIR, pg_ctl

from .helpers import running_worker, start_worker, wait_until, worker_env
from .jobs import Cancellable, Fast, UsesTheOrm

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def stop(process, sig: int = signal.SIGTERM) -> tuple[int, str]:
    process.send_signal(sig)
    out, err = process.communicate(timeout=30)
    return process.returncode, out + err


def count(state: str) -> int:
    return Job.objects.filter(state=state).count()


def test_two_worker_processes_run_1000_jobs_each_exactly_once() -> None:
    insert_all([Fast.new({"n": n}) for n in range(1000)])
    workers = [start_worker("--queues", "default=10", "--node", f"node-{n}") for n in range(2)]
    try:
        wait_until(lambda: count(JobState.COMPLETED) == 1000, timeout=60, interval=0.1)
    finally:
        statuses = [stop(worker) for worker in workers]
    assert [status for status, _ in statuses] == [0, 0], statuses
    attempts = Job.objects.values_list("attempt", "attempted_by")
    assert {attempt for attempt, _ in attempts} == {1}
    nodes = Counter(by[0] for _, by in attempts)
    assert sum(nodes.values()) == 1000 and all(len(by) == 1 for _, by in attempts)
    assert set(nodes) <= {"node-0", "node-1"}


def test_sigterm_lets_the_running_job_finish_then_exits(tmp_path) -> None:
    started = tmp_path / "started"
    job = Cancellable.enqueue({"started": str(started), "seconds": 1})
    worker = start_worker("--queues", "default=2")
    wait_until(started.exists, timeout=20)
    status, output = stop(worker)
    assert status == 0, output
    job.refresh_from_db()
    assert job.state == JobState.COMPLETED
    assert job.meta == {"recorded": "ran to the end"}


def test_kill_9_leaves_jobs_that_another_node_rescues_and_runs(tmp_path) -> None:
    started = tmp_path / "started"
    job = Cancellable.enqueue({"started": str(started), "seconds": 60})
    worker = start_worker("--queues", "default=2", "--node", "doomed")
    wait_until(started.exists, timeout=20)
    stop(worker, signal.SIGKILL)
    assert Job.objects.get(pk=job.pk).state == JobState.EXECUTING
    Job.objects.filter(pk=job.pk).update(args={"seconds": 0})  # so the rescued run finishes fast
    with running_worker(node="rescuer", rescue_after=1, heartbeat_interval=0.2):
        wait_until(lambda: Job.objects.get(pk=job.pk).state == JobState.COMPLETED, timeout=20)
    job.refresh_from_db()
    assert job.attempted_by == ["doomed", "rescuer"]
    assert job.meta["rescued"]["node"] == "doomed"


def test_a_postgresql_restart_mid_run_loses_no_job(monkeypatch) -> None:
    import os

    data_dir = os.environ.get(ENV_DATA_DIR)
    if not data_dir:
        pytest.skip("needs the throw-away cluster of runtests.py")
    # Jobs that use the ORM (max_attempts=1: one that met a dead connection would be discarded),
    # on job threads that keep their connections across jobs.
    insert_all([UsesTheOrm.new() for _ in range(50)])
    worker = start_worker("--queues", "default=5", env=worker_env(DJANGO_CONN_MAX_AGE="600"))
    try:
        wait_until(lambda: count(JobState.COMPLETED) == 50, timeout=30, interval=0.1)
        connection.close()
        pg_ctl(data_dir, "restart", "-w", "-m", "fast")
        insert_all([UsesTheOrm.new() for _ in range(50)])
        wait_until(lambda: count(JobState.COMPLETED) + count(JobState.DISCARDED) == 100, timeout=30, interval=0.1)
    finally:
        status, output = stop(worker)
    assert status == 0, output
    assert count(JobState.COMPLETED) == 100, list(Job.objects.filter(state=JobState.DISCARDED).values("errors"))
    assert set(Job.objects.values_list("attempt", flat=True)) == {1}


def test_after_kill_9_a_new_process_under_the_same_node_name_rescues_and_runs_the_job(tmp_path) -> None:
    started = tmp_path / "started"
    job = Cancellable.enqueue({"started": str(started), "seconds": 60})
    env = worker_env(DJANGO_SETTINGS_MODULE="tests.runtime.fast_rescue_settings")
    worker = start_worker("--queues", "default=2", "--node", "web-1", env=env)
    wait_until(started.exists, timeout=20)
    stop(worker, signal.SIGKILL)
    Job.objects.filter(pk=job.pk).update(args={"seconds": 0})  # so the rescued run finishes fast

    restarted = start_worker("--queues", "default=2", "--node", "web-1", env=env)  # as a container restarts
    try:
        wait_until(lambda: Job.objects.get(pk=job.pk).state == JobState.COMPLETED, timeout=30, interval=0.1)
    finally:
        status, output = stop(restarted)
    assert status == 0, output
    job.refresh_from_db()
    assert job.attempted_by == ["web-1", "web-1"]
    assert job.attempt == 2
    assert job.meta["rescued"] == {"at": job.meta["rescued"]["at"], "node": "web-1", "attempt": 1}
