"""Queue control reaching real ``manage.py oban_worker`` processes on PostgreSQL."""

from __future__ import annotations

import signal
from itertools import pairwise

import pytest
from django.db import connection

import django_oban
from django_oban import insert_all
from django_oban.models import Job
from django_oban.states import JobState
from tests.runtime.helpers import start_worker, wait_until
from tests.runtime.jobs import Counted, Fast

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

QUEUES = "alpha=2,beta=2"


def stop(process) -> None:
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, out + err


def views() -> dict[tuple[str, str | None], dict]:
    return {(row["queue"], row["node"]): row for row in django_oban.queue_status()}


def reported(queue: str, node: str, **expected) -> bool:
    row = views().get((queue, node))
    return row is not None and all(row[key] == value for key, value in expected.items())


def count(queue: str, state: str) -> int:
    return Job.objects.filter(queue=queue, state=state).count()


def test_pause_reaches_every_node_within_a_second_other_queues_run_and_resume_restarts() -> None:
    workers = [start_worker("--queues", QUEUES, "--node", name) for name in ("n1", "n2")]
    try:
        wait_until(lambda: reported("alpha", "n1") and reported("alpha", "n2"), timeout=20)
        assert django_oban.pause_queue("alpha") == 2
        wait_until(lambda: reported("alpha", "n1", paused=True) and reported("alpha", "n2", paused=True), timeout=1.5)
        insert_all([Fast.new(queue=queue) for queue in ("alpha", "beta") for _ in range(20)])
        # Both nodes were woken for both queues by the same inserts: beta ran, alpha waits.
        wait_until(lambda: count("beta", JobState.COMPLETED) == 20, timeout=10)
        assert count("alpha", JobState.AVAILABLE) == 20

        django_oban.resume_queue("alpha")
        wait_until(lambda: count("alpha", JobState.COMPLETED) == 20, timeout=5)
    finally:
        for worker in workers:
            stop(worker)


def test_a_pause_of_one_node_survives_its_restart_while_the_other_node_runs_the_queue() -> None:
    other = start_worker("--queues", QUEUES, "--node", "n2")
    paused = start_worker("--queues", QUEUES, "--node", "n1")
    try:
        wait_until(lambda: reported("alpha", "n1") and reported("alpha", "n2"), timeout=20)
        assert django_oban.pause_queue("alpha", node="n1") == 1
        wait_until(lambda: reported("alpha", "n1", paused=True), timeout=1.5)
        stop(paused)
        assert ("alpha", "n1") not in views()  # a stopped run removes its row
        paused = start_worker("--queues", QUEUES, "--node", "n1")  # as a container restarts
        # The new run's first report already has the pause: it applied it before claiming.
        wait_until(lambda: reported("alpha", "n1", paused=True), timeout=20)
        assert reported("alpha", "n2", paused=False)

        insert_all([Fast.new(queue=queue) for queue in ("alpha", "beta") for _ in range(20)])
        wait_until(lambda: count("alpha", JobState.COMPLETED) + count("beta", JobState.COMPLETED) == 40, timeout=10)
        ran_alpha = Job.objects.filter(queue="alpha").values_list("attempted_by", flat=True)
        assert {tuple(nodes) for nodes in ran_alpha} == {("n2",)}
    finally:
        stop(paused)
        stop(other)


#: After every statement that changes oban_jobs, how many jobs of queue alpha are executing.
WATCH_SQL = """
CREATE TABLE oban_test_queue_watch (id bigserial, n bigint);
CREATE FUNCTION oban_test_queue_watch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO oban_test_queue_watch (n)
  SELECT count(*) FROM oban_jobs WHERE state = 'executing' AND queue = 'alpha';
  RETURN NULL;
END
$$;
CREATE TRIGGER oban_test_queue_watch AFTER UPDATE ON oban_jobs
FOR EACH STATEMENT EXECUTE FUNCTION oban_test_queue_watch();
"""
UNWATCH_SQL = """
DROP TRIGGER IF EXISTS oban_test_queue_watch ON oban_jobs;
DROP FUNCTION IF EXISTS oban_test_queue_watch();
DROP TABLE IF EXISTS oban_test_queue_watch;
"""


@pytest.fixture
def watch():
    with connection.cursor() as cursor:
        cursor.execute(UNWATCH_SQL)
        cursor.execute(WATCH_SQL)
    yield
    with connection.cursor() as cursor:
        cursor.execute(UNWATCH_SQL)


def watched(after: int = 0) -> list[tuple[int, int]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, n FROM oban_test_queue_watch WHERE id > %s ORDER BY id", [after])
        return cursor.fetchall()


def test_scaling_up_claims_at_once_and_down_interrupts_nothing_nor_exceeds_the_new_limit(watch) -> None:
    insert_all([Counted.new({"seconds": 0.05}, queue="alpha") for _ in range(400)])
    worker = start_worker("--queues", "alpha=2", "--node", "n1")
    try:
        wait_until(lambda: watched() and max(n for _, n in watched()) == 2, timeout=20)
        django_oban.scale_queue("alpha", limit=8)
        wait_until(lambda: max(n for _, n in watched()) == 8, timeout=2)  # claimed at once
        django_oban.scale_queue("alpha", limit=1)
        wait_until(lambda: reported("alpha", "n1", limit=1), timeout=2)
        mark = watched()[-1][0]
        wait_until(lambda: len(watched(mark)) > 20, timeout=20)
    finally:
        stop(worker)
    # From the change on, a claim happens only below the new limit: the count of executing
    # rows only falls until it is within the limit, and then stays there.
    counts = [n for _, n in watched(mark)]
    assert all(later <= max(earlier, 1) for earlier, later in pairwise(counts))
    assert counts[-1] <= 1
    # Nothing was interrupted: every job that ran completed on its first attempt.
    ran = Job.objects.exclude(state=JobState.AVAILABLE).values_list("state", "attempt").distinct()
    assert set(ran) == {(JobState.COMPLETED, 1)}
