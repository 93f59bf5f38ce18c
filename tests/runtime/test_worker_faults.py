"""The real ``manage.py oban_worker`` against poison outcomes and dropped connections."""

from __future__ import annotations

import signal

import pytest
from django.db import connection

from django_oban import insert_all
from django_oban.models import Job
from django_oban.states import JobState

from .helpers import start_worker, wait_until, worker_env
from .jobs import RaisesBaseException, RaisesUnstorable, RecordsUnstorable, SnoozesBadly, UsesTheOrm

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def stop(process) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    return process.returncode, out + err


def finished(jobs: list[Job]) -> bool:
    return not Job.objects.filter(pk__in=[job.pk for job in jobs], state__in=["available", "executing"]).exists()


def backends_of_others() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [pid for (pid,) in cursor.fetchall()]


def terminate(pids: list[int]) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [pids])
    wait_until(lambda: not set(pids) & set(backends_of_others()), timeout=10)


def test_poison_outcomes_are_recorded_and_the_queue_goes_on() -> None:
    poison = insert_all(
        [
            RecordsUnstorable.new({"kind": "nul"}),
            RecordsUnstorable.new({"kind": "set"}),
            RecordsUnstorable.new({"kind": "nan"}),
            RaisesUnstorable.new(),
            RaisesBaseException.new({"kind": "exit"}),
            SnoozesBadly.new({"kind": "huge"}),
        ]
    )
    normal = insert_all([UsesTheOrm.new(priority=1) for _ in range(20)])
    worker = start_worker("--queues", "default=1")
    try:
        wait_until(lambda: finished(poison + normal), timeout=60, interval=0.1)
        assert worker.poll() is None, "the worker died"
    finally:
        status, output = stop(worker)
    assert status == 0, output
    states = dict(Job.objects.filter(pk__in=[job.pk for job in poison]).values_list("pk", "state"))
    assert [states[job.pk] for job in poison] == [JobState.COMPLETED] + [JobState.DISCARDED] * 5
    assert Job.objects.filter(pk__in=[job.pk for job in normal], state=JobState.COMPLETED).count() == 20


def test_after_pg_terminate_backend_the_next_jobs_using_the_orm_succeed() -> None:
    worker = start_worker("--queues", "default=2", env=worker_env(DJANGO_CONN_MAX_AGE="600"))
    try:
        first = insert_all([UsesTheOrm.new() for _ in range(10)])
        wait_until(lambda: finished(first), timeout=60, interval=0.1)
        job_backends = {job.meta["recorded"]["backend"] for job in Job.objects.filter(pk__in=[j.pk for j in first])}
        terminate(sorted(job_backends))  # the job threads' kept connections, idle
        second = insert_all([UsesTheOrm.new() for _ in range(10)])
        wait_until(lambda: finished(second), timeout=60, interval=0.1)
        terminate(backends_of_others())  # every connection of the worker: producer, listener, housekeeping too
        third = insert_all([UsesTheOrm.new() for _ in range(10)])
        wait_until(lambda: finished(third), timeout=60, interval=0.1)
    finally:
        status, output = stop(worker)
    assert status == 0, output
    failed = Job.objects.exclude(state=JobState.COMPLETED).values_list("pk", "state", "errors")
    assert not failed, failed  # max_attempts=1: a job that met a dead connection would be discarded
    # One warning per loop and outage (producer, listener, housekeeping), not one per retry or job.
    warnings = [line for line in output.splitlines() if "retrying until the database is back" in line]
    assert 1 <= len(warnings) <= 3, output
