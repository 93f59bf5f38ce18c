"""``manage.py oban_cron``: the periodic job entries of ``OBAN["CRON"]`` and when each runs next."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from django_oban.cron import schedule, slots
from django_oban.cron.entries import CronConfigError, CronEntry, configured_entries, configured_timezone
from django_oban.management import tables


class Command(BaseCommand):
    help = (
        "List the periodic job entries of OBAN['CRON'] with their next run time (in OBAN['TIMEZONE']) and "
        "the last slot the leader inserted a job for."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Accepted like in every other command; oban_cron only reads, so it changes nothing either way.",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print one JSON object: the time zone, now, and the entries with next_run and last_slot (ISO 8601).",
        )

    def handle(self, **options: Any) -> None:
        try:
            entries = configured_entries()
            tz = configured_timezone()
        except CronConfigError as exc:
            raise CommandError(f"{exc} ({exc.check_id})") from None
        now = schedule.database_now().astimezone(tz)
        try:
            last = slots.last_slots()
        except DatabaseError as exc:
            raise CommandError(f"Cannot read the cron slots ({exc}); run manage.py migrate.") from None
        listing = {
            "timezone": str(tz),
            "now": now.isoformat(),
            "entries": [describe(entry, now, last.get(entry.key)) for entry in entries],
        }
        if options["json"]:
            self.stdout.write(json.dumps(listing))
        else:
            self.stdout.write(render(listing))


def describe(entry: CronEntry, now: datetime, last_slot: str | None) -> dict[str, Any]:
    """One entry as the listing shows it."""
    next_run = entry.next_run(now)
    return {
        "key": entry.key,
        "expression": entry.expression,
        "worker": entry.worker_path,
        "queue": entry.queue,
        "args": entry.options.get("args", {}),
        "at_node_start": entry.schedule.is_reboot,
        "next_run": next_run.astimezone(now.tzinfo).isoformat() if next_run else None,
        "last_slot": last_slot,
    }


def render(listing: dict[str, Any]) -> str:
    """Lines a person reads: a header and one row per entry."""
    if not listing["entries"]:
        return f"No periodic jobs: OBAN['CRON'] is empty (time zone {listing['timezone']})."
    header = ["expression", "worker", "queue", "next run", "last slot"]
    rows = [
        [
            entry["expression"],
            entry["worker"],
            entry["queue"],
            entry["next_run"] or ("at each node start" if entry["at_node_start"] else "never"),
            entry["last_slot"] or "-",
        ]
        for entry in listing["entries"]
    ]
    return f"Time zone {listing['timezone']}, now {listing['now']}.\n" + tables.render_table([header, *rows])
