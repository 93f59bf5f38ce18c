"""PostgreSQL behaviour that needs a second connection: NOTIFY on commit and row locks."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import psycopg
import pytest
from django.db import connection, transaction
from django.utils import timezone

import django_oban
from django_oban import JobState
from django_oban.models import Job
from django_oban.notify import (
    AVAILABLE_CHANNEL,
    CANCELLED_CHANNEL,
    CANCELLED_IDS_PER_NOTIFICATION,
)

from .conftest import make_job
from .workers import Noop

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

MARKER = "-- marker --"


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def connect() -> psycopg.Connection:
    return psycopg.connect(**connection.get_connection_params(), autocommit=True)


@pytest.fixture
def listener():
    """A connection listening on both channels. ``received()`` returns what arrived before
    a marker notification sent now, in order: notifications of committed transactions
    arrive in commit order, so nothing sent before this point can be missed."""
    conn = connect()
    conn.execute(f"LISTEN {AVAILABLE_CHANNEL}")
    conn.execute(f"LISTEN {CANCELLED_CHANNEL}")

    def received() -> list[tuple[str, str]]:
        with connect() as other:
            other.execute("SELECT pg_notify(%s, %s)", [AVAILABLE_CHANNEL, MARKER])
        got = []
        for notify in conn.notifies(timeout=10):
            if notify.payload == MARKER:
                return got
            got.append((notify.channel, notify.payload))
        raise AssertionError(f"marker not received; got {got}")

    yield received
    conn.close()


def test_insert_notifies_each_queue_once_on_commit(listener):
    with transaction.atomic():
        Noop.enqueue(queue="mailers")
        django_oban.insert_all([Noop.new(queue="mailers"), Noop.new(queue="default")])
        Noop.enqueue(queue="later", schedule_in=60)
        assert listener() == []  # nothing before commit

    assert sorted(listener()) == [(AVAILABLE_CHANNEL, "default"), (AVAILABLE_CHANNEL, "mailers")]


def test_retry_and_rescheduling_to_now_notify(listener):
    failed = make_job(JobState.RETRYABLE, queue="q1")
    scheduled = make_job(JobState.SCHEDULED, queue="q2")
    listener()

    django_oban.retry_job(failed)
    django_oban.update_job(scheduled, {"schedule_in": 0})

    assert listener() == [(AVAILABLE_CHANNEL, "q1"), (AVAILABLE_CHANNEL, "q2")]


def test_moving_an_available_job_to_another_queue_notifies_that_queue(listener):
    job = make_job(queue="a")
    listener()

    django_oban.update_job(job, {"queue": "b"})
    django_oban.update_job(job, {"priority": 3})

    assert listener() == [(AVAILABLE_CHANNEL, "b")]


def test_cancelling_executing_jobs_publishes_their_ids(listener):
    running = [make_job(JobState.EXECUTING) for _ in range(3)]
    waiting = make_job()
    listener()

    assert django_oban.cancel_many_jobs([*running, waiting]) == 4

    [(channel, payload)] = listener()
    assert channel == CANCELLED_CHANNEL
    assert sorted(map(int, payload.split(","))) == sorted(job.pk for job in running)


def test_cancel_notifications_are_chunked(listener):
    jobs = django_oban.insert_all([Noop.new() for _ in range(2500)])
    Job.objects.update(state=JobState.EXECUTING)
    listener()

    Job.objects.all().cancel()

    got = listener()
    assert len(got) == math.ceil(2500 / CANCELLED_IDS_PER_NOTIFICATION)
    ids = [int(pk) for _, payload in got for pk in payload.split(",")]
    assert sorted(ids) == sorted(job.pk for job in jobs)


def test_concurrent_callable_updates_never_lose_a_change():
    job = make_job(tags=[])
    in_first_callable = threading.Event()
    release_first = threading.Event()

    def first(current):
        in_first_callable.set()
        release_first.wait(10)
        return {"tags": current.tags + ["first"]}

    def run(changes):
        try:
            django_oban.update_job(job.pk, changes)
        finally:
            connection.close()

    one = threading.Thread(target=run, args=(first,))
    two = threading.Thread(target=run, args=(lambda current: {"tags": current.tags + ["second"]},))
    one.start()
    assert in_first_callable.wait(10)
    two.start()
    with connect() as probe:
        wait_until(
            lambda: probe.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            ).fetchone()[0]
            == 1
        )
    release_first.set()
    one.join(10)
    two.join(10)

    job.refresh_from_db()
    assert job.tags == ["first", "second"]


def test_a_prune_keeps_a_job_retried_while_its_batch_deletes():
    """The batch's ids are chosen from one snapshot; a retry committed before the DELETE reaches
    the row must save the job (PostgreSQL re-checks the outer statement's conditions)."""
    old = timezone.now() - timedelta(days=30)
    retried = make_job(JobState.COMPLETED, completed_at=old)
    pruned = make_job(JobState.COMPLETED, completed_at=old)
    result: list[int] = []

    def prune() -> None:
        try:
            result.append(Job.objects.prune(timedelta(days=1)))
        finally:
            connection.close()

    with connect() as locker, connect() as probe:
        with locker.transaction():
            locker.execute("SELECT 1 FROM oban_jobs WHERE id = %s FOR UPDATE", [retried.pk])
            pruner = threading.Thread(target=prune)
            pruner.start()
            wait_until(lambda: _backends_waiting_on_a_lock(probe) == 1, timeout=30)
            locker.execute(
                "UPDATE oban_jobs SET state = 'available', completed_at = NULL, scheduled_at = now() WHERE id = %s",
                [retried.pk],
            )
        pruner.join(30)

    assert not pruner.is_alive()
    assert result == [1]
    assert list(Job.objects.values_list("pk", "state")) == [(retried.pk, JobState.AVAILABLE)]
    assert not Job.objects.filter(pk=pruned.pk).exists()


def _backends_waiting_on_a_lock(conn: psycopg.Connection) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
    ).fetchone()
    return int(row[0]) if row else 0
