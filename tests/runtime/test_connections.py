"""A worker process holds a fixed set of database connections and closes them on exit."""

from __future__ import annotations

import signal

import pytest
from django.db import connection

from django_oban import Worker, insert_all
from django_oban.models import Job
from django_oban.states import JobState

from .helpers import start_worker, wait_until

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
