"""A worker node in a thread obeys queue control: on SQLite by polling, on PostgreSQL at once."""

from __future__ import annotations

import pytest
from django.db import connection

import django_oban
from django_oban.models import Job, Node
from django_oban.states import JobState
from tests.runtime.helpers import running_worker, wait_until
from tests.runtime.jobs import Cancellable, Counted, Fast

pytestmark = pytest.mark.django_db(transaction=True)


def view(runner, queue: str) -> dict | None:
    return Node.objects.get(pk=runner.node_run.id).queues.get(queue)


def test_a_paused_queue_claims_nothing_its_running_job_finishes_and_resuming_claims_again(tmp_path) -> None:
    started = tmp_path / "started"
    with running_worker({"alpha": 2, "beta": 2}, poll_interval=0.1) as runner:
        running = Cancellable.enqueue({"started": str(started), "seconds": 0.5}, queue="alpha")
        wait_until(started.exists, timeout=10)
        django_oban.pause_queue("alpha")
        wait_until(lambda: view(runner, "alpha")["paused"], timeout=5)
        waiting = Fast.enqueue(queue="alpha")
        other = Fast.enqueue(queue="beta")
        wait_until(lambda: Job.objects.get(pk=other.pk).state == JobState.COMPLETED, timeout=10)
        # The job running when the queue was paused ran to the end and its outcome was written.
        wait_until(lambda: Job.objects.get(pk=running.pk).state == JobState.COMPLETED, timeout=10)
        assert Job.objects.get(pk=running.pk).meta == {"recorded": "ran to the end"}
        assert Job.objects.get(pk=waiting.pk).state == JobState.AVAILABLE

        django_oban.resume_queue("alpha")
        wait_until(lambda: Job.objects.get(pk=waiting.pk).state == JobState.COMPLETED, timeout=5)
        wait_until(lambda: view(runner, "alpha") == {"limit": 2, "paused": False, "running": 0}, timeout=5)


def test_a_node_starting_with_a_paused_queue_claims_nothing_from_it() -> None:
    django_oban.pause_queue("default")
    waiting = Fast.enqueue()
    with running_worker({"default": 2, "beta": 1}, poll_interval=0.1) as runner:
        other = Fast.enqueue(queue="beta")
        wait_until(lambda: Job.objects.get(pk=other.pk).state == JobState.COMPLETED, timeout=10)
        assert Job.objects.get(pk=waiting.pk).state == JobState.AVAILABLE
        wait_until(lambda: view(runner, "default") == {"limit": 2, "paused": True, "running": 0}, timeout=5)


def test_a_queue_paused_in_the_database_that_a_node_does_not_run_is_not_started_there() -> None:
    with running_worker({"beta": 1}, poll_interval=0.1) as runner:
        Fast.enqueue(queue="alpha")
        django_oban.pause_queue("alpha")
        wait_until(lambda: view(runner, "beta"), timeout=5)
        assert set(runner.producers) == {"beta"}
        rows = django_oban.queue_status()
    alpha = [row for row in rows if row["queue"] == "alpha"]
    assert [(row["node"], row["paused"], row["running"]) for row in alpha] == [(None, True, 0)]


@pytest.mark.postgres
def test_a_change_reaches_the_node_through_a_notification_not_the_poll() -> None:
    with running_worker({"default": 2}, poll_interval=30, heartbeat_interval=30) as runner:
        wait_until(lambda: runner.producers["default"].paused is False, timeout=5)
        django_oban.scale_queue("default", limit=7)
        wait_until(lambda: view(runner, "default") == {"limit": 7, "paused": False, "running": 0}, timeout=2)


#: After every statement that changes oban_jobs, how many rows of each queue are executing.
WATCH_SQL = """
CREATE TABLE oban_test_queue_watch (id bigserial, queue text, n bigint);
CREATE FUNCTION oban_test_queue_watch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO oban_test_queue_watch (queue, n)
  SELECT 'default', count(*) FROM oban_jobs WHERE state = 'executing' AND queue = 'default';
  RETURN NULL;
END
$$;
CREATE TRIGGER oban_test_queue_watch AFTER UPDATE ON oban_jobs FOR EACH STATEMENT EXECUTE FUNCTION oban_test_queue_watch();
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


@pytest.mark.postgres
def test_scaling_up_claims_at_once_and_down_interrupts_nothing_nor_exceeds_the_new_limit(watch) -> None:
    django_oban.insert_all([Counted.new({"seconds": 0.05}) for _ in range(300)])
    Counted.most.clear()
    with running_worker({"default": 2}) as runner:
        wait_until(lambda: watched() and max(n for _, n in watched()) == 2, timeout=10)
        django_oban.scale_queue("default", limit=8)
        wait_until(lambda: max(n for _, n in watched()) == 8, timeout=5)  # claimed at once
        django_oban.scale_queue("default", limit=1)
        wait_until(lambda: view(runner, "default")["limit"] == 1, timeout=5)
        mark = watched()[-1][0]
        wait_until(lambda: len(watched(mark)) > 20, timeout=20)
    # From the change on, a claim happens only below the new limit: the count of executing
    # rows only falls until it is within the limit, and then stays there.
    counts = [n for _, n in watched(mark)]
    assert all(later <= max(earlier, 1) for earlier, later in zip(counts, counts[1:]))
    assert counts[-1] <= 1 and Counted.most["default"] == 8
    # Nothing was interrupted: every job that ran completed on its first attempt.
    assert set(Job.objects.exclude(state=JobState.AVAILABLE).values_list("state", "attempt")) == {
        (JobState.COMPLETED, 1)
    }
