"""A worker process holds a fixed set of database connections and closes them on exit."""

from __future__ import annotations

import logging
import signal
import threading

import pytest
from django.db import OperationalError, connection, connections

from django_oban import Worker, insert_all
from django_oban.models import Job
from django_oban.signals import job_started
from django_oban.states import JobState

from .helpers import running_worker, start_worker, wait_until
from .jobs import AsyncUsesTheOrm, Noop, UsesTheOrm

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CONCURRENCY = 4
#: Connections a node needs besides one per job thread: producer (which also writes the
#: outcomes), housekeeper, notification listener, and one spare for the main thread.
FIXED_CONNECTIONS = 4


class QueriesTheDatabase(Worker):
    """A job that runs a query, so its thread needs a database connection."""

    def process(self, job):
        return Job.objects.filter(pk=job.pk).exists()


def other_backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_connections_do_not_grow_with_jobs_and_are_closed_on_exit() -> None:
    insert_all([QueriesTheDatabase.new() for _ in range(600)])
    worker = start_worker("--queues", f"default={CONCURRENCY}")
    most = 0

    def all_completed() -> bool:
        nonlocal most
        most = max(most, other_backends())
        return not Job.objects.exclude(state=JobState.COMPLETED).exists()

    try:
        wait_until(all_completed, timeout=60, interval=0.05)
    finally:
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=30)
    assert worker.returncode == 0, output
    assert 0 < most <= CONCURRENCY + FIXED_CONNECTIONS
    wait_until(lambda: other_backends() == 0, timeout=10)


# -- job code always gets a working connection ----------------------------------------------


def worker_backends() -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return {pid for (pid,) in cursor.fetchall()}


def recorded(job: Job) -> dict:
    job.refresh_from_db()
    assert job.state == JobState.COMPLETED, job.errors
    return job.meta["recorded"]


def run_one(job: Job) -> dict:
    wait_until(lambda: Job.objects.get(pk=job.pk).state not in (JobState.AVAILABLE, JobState.EXECUTING), timeout=20)
    return recorded(job)


@pytest.fixture
def persistent_connections(monkeypatch):
    """``CONN_MAX_AGE = 600`` for connections opened from now on (job threads keep theirs)."""
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 600)


def test_with_conn_max_age_0_job_threads_close_their_connection_after_each_job() -> None:
    with running_worker({"default": CONCURRENCY}):
        insert_all([UsesTheOrm.new() for _ in range(40)])
        wait_until(lambda: Job.objects.filter(state=JobState.COMPLETED).count() == 40, timeout=30)
        # Left: the producer, the housekeeper and the listener; no job thread keeps one.
        wait_until(lambda: len(worker_backends()) <= 3, timeout=10)


def test_with_persistent_connections_a_job_thread_reuses_its_connection_and_survives_its_termination(
    persistent_connections,
) -> None:
    with running_worker({"default": 1}):
        backends = {run_one(UsesTheOrm.enqueue())["backend"] for _ in range(3)}
        assert len(backends) == 1  # one connection, kept from job to job
        [backend] = backends
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [backend])
        wait_until(lambda: backend not in worker_backends(), timeout=10)
        after = run_one(UsesTheOrm.enqueue())  # max_attempts=1: a failure would discard it
        assert after["backend"] != backend


def test_when_a_runtime_connection_broke_job_threads_reconnect_before_their_next_job(persistent_connections) -> None:
    from django_oban.runtime.health import JobConnections, connection_broke

    kept: list[bool] = []

    def job_thread() -> None:
        job_connections = JobConnections()
        connection.ensure_connection()
        job_connections.before_job()
        kept.append(connection.connection is not None)  # healthy and young: kept
        connection_broke()  # e.g. the producer found the database restarted
        job_connections.before_job()
        kept.append(connection.connection is not None)
        connection.close()

    thread = threading.Thread(target=job_thread)
    thread.start()
    thread.join(30)
    assert kept == [True, False]


def test_async_jobs_run_their_orm_calls_on_their_own_job_thread() -> None:
    started_on: dict[int, int] = {}

    def on_started(sender, job, **kwargs):
        started_on[job.pk] = threading.get_ident()

    job_started.connect(on_started)
    try:
        with running_worker({"default": 2}):
            jobs = [AsyncUsesTheOrm.enqueue({"seconds": 0.5}) for _ in range(2)]
            threads = {job.pk: run_one(job)["thread"] for job in jobs}
    finally:
        job_started.disconnect(on_started)
    assert threads == {job.pk: started_on[job.pk] for job in jobs}
    assert len(set(threads.values())) == 2


# -- the runtime's own connections: backoff, one warning per outage --------------------------


def test_reconnection_backs_off_exponentially_up_to_a_cap_and_logs_once_per_outage(caplog) -> None:
    from django_oban.runtime.health import MAX_RECONNECT_DELAY, RECONNECT_DELAY, Reconnection

    reconnection = Reconnection("claiming")
    with caplog.at_level(logging.INFO, logger="django_oban.worker"):
        delays = [reconnection.failed(OperationalError("server closed the connection")) for _ in range(6)]
        reconnection.succeeded()
        reconnection.succeeded()
        reconnection.failed(OperationalError("again"))
    assert delays == [RECONNECT_DELAY * 2**n for n in range(4)] + [MAX_RECONNECT_DELAY] * 2
    assert [(record.levelname, record.getMessage()) for record in caplog.records] == [
        ("WARNING", "claiming failed (OperationalError: server closed the connection); retrying until the database is back"),
        ("INFO", "claiming works again after 6 failed attempts"),
        ("WARNING", "claiming failed (OperationalError: again); retrying until the database is back"),
    ]


def test_a_long_outage_keeps_the_capped_delay() -> None:
    from django_oban.runtime.health import MAX_RECONNECT_DELAY, Reconnection

    reconnection = Reconnection("claiming")
    delays = [reconnection.failed(OperationalError("down")) for _ in range(5000)]  # hours of outage
    assert delays[-1] == MAX_RECONNECT_DELAY


def test_a_producer_logs_one_warning_per_outage_and_one_line_when_back(monkeypatch, caplog) -> None:
    from django_oban.runtime import database

    real_claim = database.claim
    failures = 3

    def claim_after_an_outage(*args, **kwargs):
        nonlocal failures
        if failures:
            failures -= 1
            raise OperationalError("the connection is lost")
        return real_claim(*args, **kwargs)

    monkeypatch.setattr(database, "claim", claim_after_an_outage)
    with caplog.at_level(logging.INFO, logger="django_oban.worker"):
        with running_worker({"default": 1}):
            job = Noop.enqueue()
            wait_until(lambda: Job.objects.get(pk=job.pk).state == JobState.COMPLETED, timeout=30)
    messages = [(record.levelname, record.getMessage()) for record in caplog.records if "claiming" in record.getMessage()]
    assert messages == [
        ("WARNING", "acknowledging and claiming for queue 'default' failed (OperationalError: the connection is lost); "
         "retrying until the database is back"),
        ("INFO", "acknowledging and claiming for queue 'default' works again after 3 failed attempts"),
    ]
