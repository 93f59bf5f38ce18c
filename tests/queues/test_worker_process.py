"""Queue control reaching real ``manage.py oban_worker`` processes on PostgreSQL."""

from __future__ import annotations

import signal

import pytest

import django_oban
from django_oban import insert_all
from django_oban.models import Job
from django_oban.states import JobState
from tests.runtime.helpers import start_worker, wait_until
from tests.runtime.jobs import Fast

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
