"""Cancel and the other bulk operations at 10,000 jobs whose ids have 19 digits.

PostgreSQL refuses a NOTIFY payload of 8,000 bytes or more, and the trigger publishing
cancellations runs inside the cancelling statement: a payload too long would roll it back.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

import django_oban
from django_oban.models import Job
from django_oban.notify import CANCELLED_CHANNEL, CANCELLED_IDS_PER_NOTIFICATION
from django_oban.states import JobState

from .helpers import running_worker, wait_until

JOBS = 10_000
#: The first id, 19 digits long (bigint ids have at most 19 digits, and a sign).
FIRST_ID = 10**18
#: PostgreSQL's limit on a NOTIFY payload: it must be shorter than this, in bytes.
PAYLOAD_LIMIT = 8000


@pytest.fixture
def huge_ids(on_postgres: bool) -> Iterator[None]:
    """Job ids from ``FIRST_ID`` on (on PostgreSQL; SQLite takes explicit ids)."""
    if on_postgres:
        with connection.cursor() as cursor:
            cursor.execute("SELECT setval(pg_get_serial_sequence('oban_jobs', 'id'), %s, false)", [FIRST_ID])
    yield
    if on_postgres:
        with connection.cursor() as cursor:
            cursor.execute("SELECT setval(pg_get_serial_sequence('oban_jobs', 'id'), 1, false)")


def insert_jobs(state: str, on_postgres: bool, count: int = JOBS) -> list[int]:
    """``count`` jobs in ``state`` of the queue ``parked`` (no worker runs it); their ids."""
    now = timezone.now()
    fields = {"worker": "tests.runtime.jobs.Noop", "queue": "parked", "state": state}
    if state == JobState.EXECUTING:
        fields.update(attempt=1, attempted_at=now, attempted_by=["elsewhere"])
    if state == JobState.COMPLETED:
        fields.update(attempt=1, attempted_at=now, attempted_by=["elsewhere"], completed_at=now)
    jobs = [Job(**fields) for _ in range(count)]
    if not on_postgres:
        for n, job in enumerate(jobs):
            job.pk = FIRST_ID + n
    Job.objects.bulk_create(jobs, batch_size=2000)
    ids = [job.pk for job in jobs]
    assert min(ids) >= FIRST_ID
    return ids


def listening_for_cancellations() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database()"
            " AND query = %s AND state = 'idle')",
            [f"LISTEN {CANCELLED_CHANNEL}"],
        )
        return bool(cursor.fetchone()[0])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_cancel_of_10000_executing_jobs_reaches_a_listening_runner_for_every_id(huge_ids, monkeypatch) -> None:
    ids = insert_jobs(JobState.EXECUTING, on_postgres=True)
    received: set[int] = set()
    lock = threading.Lock()
    with running_worker({"default": 1}) as runner:
        held = list(Job.objects.filter(pk__in=ids))
        for job in held:  # as if this node ran them: cancel_running sets their flags
            runner.track(job)
        cancel_running = runner.cancel_running

        def record(pks: list[int]) -> None:
            with lock:
                received.update(pks)
            cancel_running(pks)

        monkeypatch.setattr(runner, "cancel_running", record)
        wait_until(listening_for_cancellations, timeout=30)

        assert Job.objects.filter(queue="parked").cancel() == JOBS

        wait_until(lambda: len(received) >= JOBS, timeout=60, interval=0.1)
        assert received == set(ids)
        assert all(job.cancelled() for job in held)
    assert Job.objects.filter(state=JobState.CANCELLED).count() == JOBS


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_cancel_notifications_stay_under_the_payload_limit_and_carry_every_id(huge_ids) -> None:
    ids = insert_jobs(JobState.EXECUTING, on_postgres=True)
    params = connection.get_connection_params()
    options = {key: value for key, value in params.items() if key not in ("cursor_factory", "context")}
    with psycopg.connect(**options, autocommit=True) as listener:
        listener.execute(f"LISTEN {CANCELLED_CHANNEL}")

        assert django_oban.cancel_many_jobs(ids) == JOBS

        payloads = [notify.payload for notify in listener.notifies(timeout=10, stop_after=math.ceil(JOBS / CANCELLED_IDS_PER_NOTIFICATION))]
    assert all(len(payload.encode()) < PAYLOAD_LIMIT for payload in payloads)
    assert max(len(payload.split(",")) for payload in payloads) == CANCELLED_IDS_PER_NOTIFICATION
    published = [int(pk) for payload in payloads for pk in payload.split(",")]
    assert sorted(published) == sorted(ids)


@pytest.mark.django_db
def test_cancel_many_jobs_cancels_10000_executing_jobs(huge_ids, on_postgres) -> None:
    ids = insert_jobs(JobState.EXECUTING, on_postgres)
    assert django_oban.cancel_many_jobs(ids) == JOBS
    assert Job.objects.filter(state=JobState.CANCELLED).count() == JOBS


@pytest.mark.django_db
def test_retry_of_10000_jobs(huge_ids, on_postgres) -> None:
    insert_jobs(JobState.COMPLETED, on_postgres)
    assert Job.objects.filter(queue="parked").retry() == JOBS
    assert Job.objects.filter(state=JobState.AVAILABLE).count() == JOBS


@pytest.mark.django_db
def test_retry_many_jobs_of_10000_ids(huge_ids, on_postgres) -> None:
    ids = insert_jobs(JobState.COMPLETED, on_postgres)
    assert django_oban.retry_many_jobs(ids) == JOBS


@pytest.mark.django_db
def test_delete_of_10000_jobs(huge_ids, on_postgres) -> None:
    insert_jobs(JobState.COMPLETED, on_postgres)
    assert Job.objects.filter(queue="parked").delete()[0] == JOBS
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_delete_many_jobs_of_10000_ids(huge_ids, on_postgres) -> None:
    ids = insert_jobs(JobState.COMPLETED, on_postgres)
    assert django_oban.delete_many_jobs(ids) == JOBS
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_update_many_of_10000_executing_jobs(huge_ids, on_postgres) -> None:
    ids = insert_jobs(JobState.EXECUTING, on_postgres)
    updated = django_oban.update_many_jobs(ids, {"priority": 3, "tags": ["bulk"]})
    assert [job.pk for job in updated] == ids
    assert Job.objects.filter(priority=3, tags=["bulk"]).count() == JOBS
    assert len(Job.objects.filter(queue="parked").update_many({"meta": {"n": 1}})) == JOBS
