"""``manage.py oban_stats``: job counts by queue and state, and how long queues have been waiting."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand
from django.db.models import Min
from django.utils import timezone

from django_oban.conf import oban_settings
from django_oban.management import tables
from django_oban.models import Job
from django_oban.states import JobState


class Command(BaseCommand):
    help = (
        "Show how many jobs each queue holds in each state, and per queue the age of its oldest available "
        "job: how long the job that has waited longest to run has been waiting (now - scheduled_at)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Accepted like in every other command; oban_stats only reads, so it changes nothing either way.",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print one JSON object: per queue the counts by state, the total and oldest_available_age (seconds).",
        )

    def handle(self, **options: Any) -> None:
        stats = queue_stats(timezone.now())
        if options["json"]:
            self.stdout.write(json.dumps(stats))
        else:
            self.stdout.write(render_table(stats))


def queue_stats(now: datetime) -> dict[str, Any]:
    """Counts by queue and state (configured queues included), totals and oldest available ages, in two queries."""
    counts = Job.objects.stats()
    for queue in oban_settings.QUEUES:
        counts.setdefault(queue, dict.fromkeys(JobState.values, 0))
    oldest = dict(Job.objects.available().order_by().values_list("queue").annotate(oldest=Min("scheduled_at")))
    queues: dict[str, dict[str, Any]] = {
        queue: {
            "states": states,
            "total": sum(states.values()),
            "oldest_available_age": max((now - oldest[queue]).total_seconds(), 0.0) if queue in oldest else None,
        }
        for queue, states in sorted(counts.items())
    }
    totals = {state: sum(queue["states"][state] for queue in queues.values()) for state in JobState.values}
    return {"queues": queues, "states": totals, "total": sum(totals.values())}


def render_table(stats: dict[str, Any]) -> str:
    """A plain-text table: one row per queue and a total row."""
    header = ["queue", *JobState.values, "total", "oldest available"]
    rows = [
        [name, *map(str, queue["states"].values()), str(queue["total"]), format_age(queue["oldest_available_age"])]
        for name, queue in stats["queues"].items()
    ]
    rows.append(["(all)", *map(str, stats["states"].values()), str(stats["total"]), ""])
    # Names left-aligned, counts right-aligned.
    return tables.render_table([header, *rows], right=range(1, len(header) - 1))


def format_age(seconds: float | None) -> str:
    """``None`` as ``-``; else the two largest units: ``45s``, ``5m 3s``, ``2h 0m``, ``3d 4h``."""
    if seconds is None:
        return "-"
    whole = int(seconds)
    parts = [(whole // 86400, "d"), (whole % 86400 // 3600, "h"), (whole % 3600 // 60, "m"), (whole % 60, "s")]
    first = next((index for index, (value, _) in enumerate(parts) if value), len(parts) - 1)
    return " ".join(f"{value}{unit}" for value, unit in parts[first : first + 2])
