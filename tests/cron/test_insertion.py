"""The leader inserts each due slot's job once: repeated ticks, other nodes, missed slots, @reboot."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.test import override_settings

from django_oban.cron import schedule
from django_oban.cron.entries import configured_entries
from django_oban.cron.slots import RETENTION, CronScheduler, insert_slot, last_slots, prune, slot_id
from django_oban.models import Job
from django_oban.runtime.runner import Runner
from django_oban.states import JobState

pytestmark = pytest.mark.django_db

NOOP = "tests.workers.Noop"


@pytest.fixture
def clock(monkeypatch):
    """The time cron reads, set by the test (``clock.now``)."""

    class Clock:
        now = datetime.fromisoformat("2026-01-01T10:00:05+00:00")

    monkeypatch.setattr(schedule, "database_now", lambda using="default": Clock.now)
    return Clock


def scheduler(*cron, tz: str = "UTC") -> CronScheduler:
    with override_settings(OBAN={"CRON": list(cron), "TIMEZONE": tz}):
        return CronScheduler(configured_entries())


def cron_jobs() -> list[tuple[str, str]]:
    return list(Job.objects.order_by("id").values_list("meta__cron", "meta__cron_slot"))


def test_a_due_slot_inserts_one_job_with_the_entrys_options_and_cron_meta(clock) -> None:
    options = {"args": {"report": "daily"}, "queue": "reports", "priority": 3, "tags": ["Nightly"], "meta": {"a": 1}}
    (job,) = scheduler(("0 10 * * *", "tests.workers.SendEmail", options)).tick()
    job = Job.objects.get(pk=job.pk)
    assert (job.worker, job.args, job.queue, job.priority, job.tags) == (
        "tests.workers.SendEmail",
        {"report": "daily"},
        "reports",
        3,
        ["nightly"],
    )
    assert job.max_attempts == 5  # the worker's default
    assert job.meta == {"a": 1, "cron": "0 10 * * *", "cron_slot": "2026-01-01T10:00:00+00:00"}
    assert job.state == JobState.AVAILABLE


def test_each_slot_once_whatever_the_ticks_and_schedulers(clock) -> None:
    first = scheduler(("*/5 * * * *", NOOP))
    assert len(first.tick()) == 1
    assert first.tick() == []
    # Another node's scheduler (a new leader after a failover), knowing nothing of the first:
    assert scheduler(("*/5 * * * *", NOOP)).tick() == []
    clock.now += timedelta(minutes=5)
    assert len(first.tick()) == 1
    assert first.tick() == [] and scheduler(("*/5 * * * *", NOOP)).tick() == []
    assert cron_jobs() == [("*/5 * * * *", "2026-01-01T10:00:00+00:00"), ("*/5 * * * *", "2026-01-01T10:05:00+00:00")]


def test_a_slot_whose_job_was_deleted_is_not_inserted_again(clock) -> None:
    Job.objects.filter(pk__in=[job.pk for job in scheduler(("@hourly", NOOP)).tick()]).delete()
    assert scheduler(("@hourly", NOOP)).tick() == []


def test_missed_slots_are_not_replayed(clock) -> None:
    clock.now = datetime.fromisoformat("2026-01-01T10:01:00+00:00")  # the 10:00 slot is a minute old
    hourly = scheduler(("@hourly", NOOP))
    assert hourly.tick() == []
    clock.now = datetime.fromisoformat("2026-01-01T13:00:20+00:00")  # down from 10:01 to 13:00: 11:00, 12:00 missed
    assert len(hourly.tick()) == 1
    assert cron_jobs() == [("@hourly", "2026-01-01T13:00:00+00:00")]


def test_a_late_leader_still_inserts_a_slot_within_the_window(clock) -> None:
    clock.now = datetime.fromisoformat("2026-01-01T10:00:59+00:00")
    assert len(scheduler(("@hourly", NOOP)).tick()) == 1


def test_slots_are_computed_in_the_configured_time_zone(clock) -> None:
    clock.now = datetime.fromisoformat("2026-07-01T07:00:10+00:00")  # 09:00 in Berlin (summer time)
    assert len(scheduler(("0 9 * * *", NOOP), tz="Europe/Berlin").tick()) == 1
    assert len(scheduler(("0 9 * * *", NOOP, {"queue": "utc"})).tick()) == 0  # 07:00 in UTC
    assert cron_jobs() == [("0 9 * * *", "2026-07-01T07:00:00+00:00")]


def test_entries_are_told_apart_by_their_options(clock) -> None:
    both = scheduler(("@hourly", NOOP, {"args": {"region": "eu"}}), ("@hourly", NOOP, {"args": {"region": "us"}}))
    assert sorted(job.args["region"] for job in both.tick()) == ["eu", "us"]


def test_reboot_inserts_once_per_node_run(clock) -> None:
    entries = (("@reboot", NOOP), ("@hourly", NOOP))
    node = scheduler(*entries)
    assert [job.meta["cron"] for job in node.reboot(run_id=1)] == ["@reboot"]
    assert node.reboot(run_id=1) == []
    assert scheduler(*entries).reboot(run_id=1) == []  # the same run retrying after an error
    assert len(scheduler(*entries).reboot(run_id=2)) == 1  # the next start
    assert sorted(slot for cron, slot in cron_jobs()) == ["reboot:1", "reboot:2"]


def test_a_slot_inserted_in_a_rolled_back_transaction_can_be_inserted_again(clock) -> None:
    from django.db import transaction

    (entry,) = configured_entries_of(("@hourly", NOOP))
    slot = slot_id(clock.now.replace(second=0))
    with pytest.raises(RuntimeError), transaction.atomic():
        assert insert_slot(entry, slot, clock.now) is not None
        raise RuntimeError("the leader's transaction failed")
    assert Job.objects.count() == 0
    assert insert_slot(entry, slot, clock.now) is not None


def configured_entries_of(*cron):
    with override_settings(OBAN={"CRON": list(cron)}):
        return configured_entries()


def test_a_worker_node_refuses_to_start_with_bad_cron_entries() -> None:
    bad = override_settings(OBAN={"CRON": [("61 * * * *", NOOP)]})
    with bad, pytest.raises(ValueError, match="bad cron expression"):
        Runner({"default": 1}, "node-1")


def test_a_cron_job_is_managed_like_any_other_and_the_slot_stays_done(clock) -> None:
    import django_oban

    hourly = scheduler(("@hourly", NOOP))
    (job,) = hourly.tick()
    django_oban.update_job(job, {"priority": 7, "meta": django_oban.Merge({"note": "moved"})})
    django_oban.cancel_job(job)
    django_oban.retry_job(job)
    job.refresh_from_db()
    assert (job.state, job.priority) == (JobState.AVAILABLE, 7)
    assert job.meta == {"cron": "@hourly", "cron_slot": "2026-01-01T10:00:00+00:00", "note": "moved"}
    assert hourly.tick() == [] and scheduler(("@hourly", NOOP)).tick() == []
    assert Job.objects.count() == 1


def test_prune_deletes_the_slot_rows_older_than_the_retention_and_keeps_the_others(clock) -> None:
    old, recent = configured_entries_of(("@hourly", NOOP), ("@daily", NOOP))
    insert_slot(old, slot_id(clock.now - RETENTION - timedelta(hours=1)), clock.now - RETENTION - timedelta(minutes=1))
    insert_slot(recent, slot_id(clock.now - timedelta(hours=1)), clock.now - RETENTION + timedelta(minutes=1))
    assert prune() == 1
    assert list(last_slots()) == [recent.key]

