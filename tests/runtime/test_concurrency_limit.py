"""A node never has more than a queue's limit of that queue's jobs executing, in the database
or in its threads, whatever the mix of outcomes (batched completions, records, failures)."""

from __future__ import annotations

import random

import pytest
from django.db import connection

from django_oban import insert_all
from django_oban.models import Job
from django_oban.states import JobState

from .helpers import running_worker, wait_until
from .jobs import Counted

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

LIMITS = {"default": 4, "other": 2}

#: After every statement that changes oban_jobs, record how many rows each (queue, node)
#: has executing: the database's own view of the limit, checked at every claim and write.
WATCH_SQL = """
CREATE TABLE oban_test_executing (queue text, node text, n bigint);
CREATE FUNCTION oban_test_watch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO oban_test_executing (queue, node, n)
  SELECT queue, attempted_by ->> -1, count(*) FROM oban_jobs WHERE state = 'executing' GROUP BY 1, 2;
  RETURN NULL;
END
$$;
CREATE TRIGGER oban_test_watch AFTER UPDATE ON oban_jobs FOR EACH STATEMENT EXECUTE FUNCTION oban_test_watch();
"""
UNWATCH_SQL = """
DROP TRIGGER IF EXISTS oban_test_watch ON oban_jobs;
DROP FUNCTION IF EXISTS oban_test_watch();
DROP TABLE IF EXISTS oban_test_executing;
"""


@pytest.fixture
def watch():
    with connection.cursor() as cursor:
        cursor.execute(UNWATCH_SQL)
        cursor.execute(WATCH_SQL)
    yield
    with connection.cursor() as cursor:
        cursor.execute(UNWATCH_SQL)


def most_executing() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT queue, max(n) FROM oban_test_executing WHERE node = 'limited' GROUP BY queue")
        return dict(cursor.fetchall())


def test_the_limit_of_each_queue_holds_in_the_database_and_in_threads(watch) -> None:
    rng = random.Random(7)
    outcomes = [None] * 6 + ["record", "fail"]
    jobs = [
        Counted.new({"seconds": rng.choice([0, 0, 0.001, 0.005]), "outcome": rng.choice(outcomes)}, queue=queue)
        for queue in LIMITS
        for _ in range(150)
    ]
    insert_all(jobs)
    Counted.most.clear()
    finished = [JobState.COMPLETED, JobState.DISCARDED]
    with running_worker(LIMITS, node="limited"):
        wait_until(lambda: Job.objects.filter(state__in=finished).count() == len(jobs), timeout=60, interval=0.05)
    assert Job.objects.filter(state=JobState.DISCARDED).exists()
    assert Job.objects.filter(meta__has_key="recorded").exists()
    # Never above the limit, and the limit was reached (the first claim fills every slot).
    assert most_executing() == LIMITS
    assert Counted.most == LIMITS
