"""A worker node in a thread obeys queue control: on SQLite by polling, on PostgreSQL at once."""

from __future__ import annotations

import pytest

import django_oban
from django_oban.models import Job, Node
from django_oban.states import JobState
from tests.runtime.helpers import running_worker, wait_until
from tests.runtime.jobs import Cancellable, Fast

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
