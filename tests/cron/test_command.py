"""``manage.py oban_cron``: the entries with their next run and last slot, as a table or JSON."""

from __future__ import annotations

import json
from datetime import datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from django_oban.cron import schedule
from django_oban.cron.slots import CronScheduler

pytestmark = pytest.mark.django_db

NOW = datetime.fromisoformat("2026-03-28T23:00:05+00:00")  # Sunday 00:00:05 in Berlin, the night of the change
CRON = [
    ("30 2 * * *", "tests.workers.Noop", {"args": {"kind": "sales"}}),
    ("@hourly", "tests.workers.SendEmail"),
    ("@reboot", "tests.workers.Noop"),
]


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    monkeypatch.setattr(schedule, "database_now", lambda using="default": NOW)


def run(*args: str) -> str:
    out = StringIO()
    call_command("oban_cron", *args, stdout=out)
    return out.getvalue()


def test_json_lists_each_entry_with_its_next_run_in_the_time_zone_and_its_last_slot() -> None:
    with override_settings(OBAN={"CRON": CRON, "TIMEZONE": "Europe/Berlin"}):
        from django_oban.cron.entries import configured_entries

        CronScheduler(configured_entries()).tick()  # inserts the @hourly job of 00:00 Berlin time
        listing = json.loads(run("--json"))
    assert listing["timezone"] == "Europe/Berlin" and listing["now"] == "2026-03-29T00:00:05+01:00"
    rows = [
        {key: entry[key] for key in ("expression", "worker", "queue", "args", "next_run", "last_slot")}
        for entry in listing["entries"]
    ]
    assert rows == [
        # 02:30 does not exist that night: the slot is 03:00 summer time.
        {"expression": "30 2 * * *", "worker": "tests.workers.Noop", "queue": "default", "args": {"kind": "sales"},
         "next_run": "2026-03-29T03:00:00+02:00", "last_slot": None},
        {"expression": "@hourly", "worker": "tests.workers.SendEmail", "queue": "mailers", "args": {},
         "next_run": "2026-03-29T01:00:00+01:00", "last_slot": "2026-03-28T23:00:00+00:00"},
        {"expression": "@reboot", "worker": "tests.workers.Noop", "queue": "default", "args": {},
         "next_run": None, "last_slot": None},
    ]  # fmt: skip
    assert [entry["at_node_start"] for entry in listing["entries"]] == [False, False, True]
    assert len({entry["key"] for entry in listing["entries"]}) == 3


def test_the_table_shows_the_same_for_a_person() -> None:
    with override_settings(OBAN={"CRON": CRON, "TIMEZONE": "Europe/Berlin"}):
        lines = run().splitlines()
    assert lines[0] == "Time zone Europe/Berlin, now 2026-03-29T00:00:05+01:00."
    assert lines[1].split() == ["expression", "worker", "queue", "next", "run", "last", "slot"]
    assert lines[2].split() == [
        "30",
        "2",
        "*",
        "*",
        "*",
        "tests.workers.Noop",
        "default",
        "2026-03-29T03:00:00+02:00",
        "-",
    ]
    assert lines[4].split() == ["@reboot", "tests.workers.Noop", "default", "at", "each", "node", "start", "-"]


def test_no_entries_says_so() -> None:
    with override_settings(OBAN={}):
        assert run("--dry-run") == "No periodic jobs: OBAN['CRON'] is empty (time zone UTC).\n"
        assert json.loads(run("--json")) == {"timezone": "UTC", "now": NOW.isoformat(), "entries": []}


@pytest.mark.parametrize(
    ("oban", "words"),
    [
        ({"CRON": [("* * *", "tests.workers.Noop")]}, "has 3 fields"),
        ({"CRON": [("@daily", "tests.workers.Nope")]}, "(django_oban.E032)"),
        ({"TIMEZONE": "Nowhere/Town"}, "(django_oban.E034)"),
    ],
)
def test_bad_settings_are_a_command_error(oban, words: str) -> None:
    with override_settings(OBAN=oban), pytest.raises(CommandError) as raised:
        call_command("oban_cron", "--json", skip_checks=True)
    assert words in str(raised.value)
