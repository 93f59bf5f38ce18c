"""Exactly one job per slot on real PostgreSQL: two leaders at once, and two worker processes."""

from __future__ import annotations

import itertools
import json
import signal
import sys
import threading
import time
from datetime import datetime, timedelta

import pytest
from django.db import connection, transaction
from django.test import override_settings

from django_oban.cron import schedule
from django_oban.cron.entries import configured_entries
from django_oban.cron.slots import CronScheduler, insert_slot
from django_oban.models import Job, Node
from django_oban.runtime.nodes import LEADER_LOCK
from tests.runtime.helpers import REPO_ROOT, wait_until, worker_env

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_slots")]

NOOP = "tests.workers.Noop"
SLOT = "2026-01-01T10:00:00+00:00"
NOW = datetime.fromisoformat("2026-01-01T10:00:05+00:00")


def hourly_entry():
    with override_settings(OBAN={"CRON": [("@hourly", NOOP)]}):
        (entry,) = configured_entries()
    return entry


def on_own_connection(target, results: dict, key: str):
    def run() -> None:
        try:
            results[key] = target()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            results[key] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return int(cursor.fetchone()[0])


def test_a_second_leader_inserting_the_same_slot_waits_for_the_first_and_inserts_nothing() -> None:
    entry = hourly_entry()
    inside, release, results = threading.Event(), threading.Event(), {}

    def first_leader():
        with transaction.atomic():
            job = insert_slot(entry, SLOT, NOW)
            inside.set()
            release.wait(10)  # the transaction stays open: its job is not committed yet
            return job

    first = on_own_connection(first_leader, results, "first")
    assert inside.wait(10)
    second = on_own_connection(lambda: insert_slot(entry, SLOT, NOW), results, "second")
    wait_until(lambda: lock_waiters() == 1, timeout=10)  # blocked on the first one's row, not past it
    assert Job.objects.count() == 0
    release.set()
    first.join(10)
    second.join(10)
    assert isinstance(results["first"], Job) and results["second"] is None, results
    assert list(Job.objects.values_list("meta__cron_slot", flat=True)) == [SLOT]


def test_many_leaders_ticking_at_the_same_instant_insert_one_job(monkeypatch) -> None:
    monkeypatch.setattr(schedule, "database_now", lambda using="default": NOW)
    schedulers = [CronScheduler([hourly_entry()]) for _ in range(6)]
    barrier, results = threading.Barrier(len(schedulers)), {}

    def tick(scheduler: CronScheduler):
        barrier.wait(10)
        return scheduler.tick()

    threads = [on_own_connection(lambda s=s: tick(s), results, str(n)) for n, s in enumerate(schedulers)]
    for thread in threads:
        thread.join(20)
    assert sorted(len(jobs) for jobs in results.values()) == [0, 0, 0, 0, 0, 1], results
    assert Job.objects.count() == 1


def fast_clock_worker(node: str, origin: float):
    import subprocess

    oban = {"CRON": [["* * * * *", NOOP]], "HEARTBEAT_INTERVAL": 0.05, "QUEUES": {"default": 2}}
    env = worker_env(OBAN_SETTINGS_JSON=json.dumps(oban), OBAN_TEST_CLOCK_ORIGIN=str(origin), PGAPPNAME=node)
    return subprocess.Popen(
        [sys.executable, "-m", "tests.cron.fast_clock_worker", "--node", node],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def slots() -> list[str]:
    return list(Job.objects.order_by("meta__cron_slot").values_list("meta__cron_slot", flat=True))


def leader() -> str | None:
    """The node holding the leader lock (each worker's connections carry its name as application_name)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.application_name FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.objid::bigint = %s AND l.granted AND a.datname = current_database()",
            [LEADER_LOCK & 0xFFFFFFFF],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def stop(process) -> str:
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, out + err
    return out + err


def test_two_worker_processes_insert_one_job_per_slot_over_several_slots_and_a_failover() -> None:
    """A slot every (fast) minute, two real seconds; the leader stops half-way and the other takes over."""
    origin = time.time()
    workers = {node: fast_clock_worker(node, origin) for node in ("node-a", "node-b")}
    try:
        wait_until(lambda: Node.objects.count() == 2 and len(slots()) >= 2, timeout=15, interval=0.05)
        first_leader = wait_until(leader, timeout=5)
        stop(workers.pop(first_leader))
        after_failover = len(slots())
        wait_until(lambda: len(slots()) >= after_failover + 2, timeout=10, interval=0.05)
        assert leader() in workers  # the other node took over
    finally:
        for process in workers.values():
            stop(process)
    inserted = slots()
    assert len(inserted) == len(set(inserted)), inserted  # no slot twice
    minutes = [datetime.fromisoformat(slot) for slot in inserted]
    assert all(slot.second == 0 for slot in minutes)
    # No slot skipped either, the failover included: each minute from the first to the last.
    steps = [b - a for a, b in itertools.pairwise(minutes)]
    assert steps == [timedelta(minutes=1)] * (len(minutes) - 1), (inserted, after_failover)
