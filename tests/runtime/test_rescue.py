"""Rescue goes by the run that claimed a job, not by its node's name, and by the database's clock.

Timestamps are set relative to the database's ``now()`` (constant inside the test's
transaction on PostgreSQL, so every comparison is exact), or Python's clock on SQLite.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_oban.models import Job, Node
from django_oban.runtime import nodes
from django_oban.states import JobState
from tests.conftest import make_job

from .helpers import running_worker, wait_until

RESCUE_AFTER = 60


def db_now() -> datetime:
    """The database's clock on PostgreSQL (the transaction's start), Python's elsewhere."""
    if connection.vendor != "postgresql":
        return timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        return cursor.fetchone()[0]


def ago(**delta: float) -> datetime:
    return db_now() - timedelta(**delta)


def run_of(name: str, *, started: datetime, heartbeat: datetime) -> Node:
    return Node.objects.create(name=name, started_at=started, heartbeat_at=heartbeat)


def executing_job(node: str, attempted_at: datetime, **fields: object) -> Job:
    return make_job(JobState.EXECUTING, attempted_by=[node], attempted_at=attempted_at, **fields)


def state_of(job: Job) -> str:
    return Job.objects.values_list("state", flat=True).get(pk=job.pk)


@pytest.mark.django_db
def test_a_restarted_node_of_the_same_name_does_not_shield_the_previous_runs_jobs() -> None:
    run_of("web-1", started=ago(hours=3), heartbeat=ago(hours=2))  # killed two hours ago
    run_of("web-1", started=ago(minutes=30), heartbeat=ago(seconds=1))  # restarted, alive
    orphan = executing_job("web-1", attempted_at=ago(hours=2, minutes=30))

    assert nodes.rescue(RESCUE_AFTER) == 1

    orphan.refresh_from_db()
    assert orphan.state == JobState.AVAILABLE
    assert orphan.meta["rescued"]["node"] == "web-1"
    assert orphan.meta["rescued"]["attempt"] == 1


@pytest.mark.django_db
def test_a_run_whose_row_is_gone_leaves_orphans_even_when_a_later_run_of_its_name_lives() -> None:
    run_of("web-1", started=ago(minutes=30), heartbeat=ago(seconds=1))
    orphan = executing_job("web-1", attempted_at=ago(hours=1))  # claimed before this run started
    assert nodes.rescue(RESCUE_AFTER) == 1
    assert state_of(orphan) == JobState.AVAILABLE


@pytest.mark.django_db
def test_jobs_of_a_live_run_are_not_rescued_however_old_their_attempt() -> None:
    run_of("web-1", started=ago(hours=5), heartbeat=ago(hours=4))  # an earlier, dead run
    run_of("web-1", started=ago(hours=3), heartbeat=ago(seconds=1))
    running = executing_job("web-1", attempted_at=ago(hours=2))
    assert nodes.rescue(RESCUE_AFTER) == 0
    assert state_of(running) == JobState.EXECUTING


@pytest.mark.django_db
def test_an_attempt_younger_than_rescue_after_is_not_rescued_even_without_a_run() -> None:
    young = executing_job("nowhere", attempted_at=ago(seconds=RESCUE_AFTER - 5))
    assert nodes.rescue(RESCUE_AFTER) == 0
    assert state_of(young) == JobState.EXECUTING


@pytest.mark.django_db
def test_rescue_discards_jobs_out_of_attempts_and_leaves_other_states_alone() -> None:
    long_ago = ago(hours=1)
    last_attempt = executing_job("dead", attempted_at=long_ago, attempt=3, max_attempts=3)
    completed = make_job(JobState.COMPLETED, attempted_by=["dead"], attempted_at=long_ago)
    assert nodes.rescue(RESCUE_AFTER) == 1
    last_attempt.refresh_from_db()
    assert last_attempt.state == JobState.DISCARDED
    assert last_attempt.discarded_at is not None
    assert last_attempt.meta["rescued"]["attempt"] == 3
    assert state_of(completed) == JobState.COMPLETED


@pytest.mark.django_db
def test_a_heartbeat_recreates_a_deleted_run_row_with_its_identity_so_its_jobs_stay_its_own() -> None:
    run = nodes.register("web-1")
    Node.objects.filter(pk=run.id).delete()  # e.g. forgotten while the node was cut off

    nodes.heartbeat(run)

    node = Node.objects.get()
    assert (node.pk, node.name, node.started_at) == (run.id, "web-1", run.started_at)
    running = executing_job("web-1", attempted_at=ago(hours=1))
    Node.objects.filter(pk=run.id).update(started_at=ago(hours=2))  # the job was claimed by this run
    assert nodes.rescue(RESCUE_AFTER) == 0
    assert state_of(running) == JobState.EXECUTING


@pytest.mark.postgres
@pytest.mark.django_db
def test_rescue_is_one_statement_however_many_orphans() -> None:
    run_of("dead", started=ago(hours=3), heartbeat=ago(hours=2))
    for _ in range(300):
        executing_job("dead", attempted_at=ago(hours=2, minutes=30))
    with CaptureQueriesContext(connection) as queries:
        assert nodes.rescue(RESCUE_AFTER) == 300
    assert len(queries) == 1
    assert not Job.objects.filter(state=JobState.EXECUTING).exists()


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_fresh_heartbeat_by_the_database_clock_is_alive_when_python_runs_a_day_ahead(monkeypatch) -> None:
    run = nodes.register("web-1")
    Node.objects.filter(pk=run.id).update(started_at=ago(hours=3))
    running = executing_job("web-1", attempted_at=ago(hours=2))
    nodes.heartbeat(run)  # the database's now()
    monkeypatch.setattr(timezone, "now", lambda: db_now() + timedelta(days=1))

    assert nodes.rescue(RESCUE_AFTER) == 0
    assert state_of(running) == JobState.EXECUTING


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_stale_heartbeat_by_the_database_clock_is_dead_when_python_runs_a_day_behind(monkeypatch) -> None:
    run_of("web-1", started=ago(hours=3), heartbeat=ago(hours=2))
    orphan = executing_job("web-1", attempted_at=ago(hours=2, minutes=30))
    monkeypatch.setattr(timezone, "now", lambda: db_now() - timedelta(days=1))

    assert nodes.rescue(RESCUE_AFTER) == 1
    assert state_of(orphan) == JobState.AVAILABLE


@pytest.mark.postgres
@pytest.mark.django_db
def test_registration_and_heartbeat_write_the_database_clock_not_pythons(monkeypatch) -> None:
    monkeypatch.setattr(timezone, "now", lambda: db_now() - timedelta(days=1))
    run = nodes.register("web-1")
    nodes.heartbeat(run)
    node = Node.objects.get(pk=run.id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        database_clock = cursor.fetchone()[0]
    assert abs(node.started_at - database_clock) < timedelta(minutes=1)
    assert abs(node.heartbeat_at - database_clock) < timedelta(minutes=1)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_node_restarted_under_the_same_name_rescues_and_runs_the_previous_runs_job() -> None:
    killed = Node.objects.create(name="web-1")
    Node.objects.filter(pk=killed.pk).update(started_at=ago(hours=3), heartbeat_at=ago(hours=2))
    orphan = executing_job("web-1", attempted_at=ago(hours=2, minutes=30), worker="tests.runtime.jobs.Noop")

    with running_worker({"default": 1}, node="web-1", rescue_after=1) as runner:
        wait_until(lambda: state_of(orphan) == JobState.COMPLETED, timeout=30)
        assert runner.node_run is not None and runner.node_run.id != killed.pk

    orphan.refresh_from_db()
    assert orphan.attempted_by == ["web-1", "web-1"]
    assert orphan.attempt == 2
    assert orphan.meta["rescued"]["node"] == "web-1"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_run_is_registered_before_it_claims_and_owns_what_it_claims() -> None:
    job = Job.objects.create(worker="tests.runtime.jobs.Noop")
    with running_worker({"default": 1}, node="web-1"):
        wait_until(lambda: state_of(job) == JobState.COMPLETED, timeout=30)
        node = Node.objects.get(name="web-1")
    job.refresh_from_db()
    assert node.started_at <= job.attempted_at
    assert not Node.objects.exists()  # a clean shutdown removes the run's row
