"""``manage.py oban_queue pause|resume|scale|status [NAME] [--limit N] [--node NODE] [--json]``."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from django_oban.management import tables
from django_oban.management.arguments import parse_int, parse_name
from django_oban.managing import managed_by
from django_oban.queues import MAX_LIMIT, change_queue, describe_change, queue_status
from django_oban.states import JobState


class Command(BaseCommand):
    help = (
        "Pause, resume or scale a queue on every node (or on --node) while workers run, or show every "
        "queue's status: each live node's limit, paused and running jobs, and the queue's jobs by state."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("action", choices=["pause", "resume", "scale", "status"])
        parser.add_argument("name", nargs="?", help="The queue (required but for status, where it filters).")
        parser.add_argument("--limit", help=f"scale: the new per-node concurrency limit, 1 to {MAX_LIMIT}.")
        parser.add_argument("--node", help="Change the queue on this node only (default: on every node).")
        parser.add_argument("--json", action="store_true", help="Print exactly one JSON object on stdout.")

    def handle(self, *args: Any, **options: Any) -> None:
        action, as_json = options["action"], options["json"]
        name = None if options["name"] is None else parse_name(options["name"], "queue name")
        node = None if options["node"] is None else parse_name(options["node"], "--node")
        if action == "status":
            if options["limit"] is not None or node is not None:
                raise CommandError("status takes no --limit or --node.")
            self._status(name, as_json)
            return
        if name is None:
            raise CommandError(f"{action} needs the name of a queue: oban_queue {action} NAME.")
        if (options["limit"] is None) == (action == "scale"):
            raise CommandError("scale needs --limit N." if action == "scale" else f"{action} takes no --limit.")
        limit = None if options["limit"] is None else parse_int(options["limit"], "--limit", minimum=1)
        try:
            with managed_by("command"):
                nodes = change_queue(action, name, node=node, limit=limit)
        except (TypeError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        report = {"operation": action, "queue": name, "node": node, "limit": limit, "nodes": nodes}
        self.stdout.write(json.dumps(report) if as_json else self.style.SUCCESS(describe(report)))

    def _status(self, name: str | None, as_json: bool) -> None:
        rows = queue_status()
        if name is not None:
            rows = [row for row in rows if row["queue"] == name]
            if not rows:
                raise CommandError(f"Unknown queue {name!r}: oban_queue status lists the known queues.")
        self.stdout.write(json.dumps({"queues": rows}) if as_json else render_table(rows))


def describe(report: dict[str, Any]) -> str:
    """``Paused queue 'mailers' on every node (2 live nodes run it).``"""
    count = report["nodes"]
    nodes = f"{count} live node runs it" if count == 1 else f"{count} live nodes run it"
    change = describe_change(report["operation"], report["queue"], report["node"], report["limit"])
    return f"{change} ({nodes})."


def render_table(rows: list[dict[str, Any]]) -> str:
    """One line per queue and node: the node's view, then the queue's jobs by state."""
    header = ["queue", "node", "paused", "limit", "running", *JobState.values]
    lines = [header] + [
        [row["queue"], row["node"] or "-", "yes" if row["paused"] else "no",
         "-" if row["limit"] is None else str(row["limit"]), str(row["running"]),
         *(str(row["counts"][state]) for state in JobState.values)]
        for row in rows
    ]
    return tables.render_table(lines, right=range(3, len(header)))
