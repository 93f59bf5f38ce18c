"""``manage.py oban_update``: change fields of jobs chosen by id or by filter."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from django_oban.changes import DURATION_HELP
from django_oban.management.arguments import (
    parse_duration,
    parse_int,
    parse_json_object,
    parse_name,
    reject_nul,
)
from django_oban.management.jobs_command import JobsCommand
from django_oban.management.selection import select_jobs
from django_oban.operations import UPDATE
from django_oban.updates import Add, Merge, Update

#: The option that sets each field (``schedule_in`` sets ``scheduled_at`` relative to now).
OPTIONS: dict[str, str] = {
    "priority": "--set-priority",
    "queue": "--set-queue",
    "worker": "--set-worker",
    "tags": "--set-tags",
    "meta": "--set-meta",
    "args": "--set-args",
    "max_attempts": "--set-max-attempts",
    "schedule_in": "--schedule-in",
    "scheduled_at": "--scheduled-at",
}


class Command(JobsCommand):
    help = (
        "Change jobs, executing ones included: priority, queue, worker, tags, meta, args, max_attempts "
        "or when they run; unique jobs the new values would make duplicates are skipped (reported as 'unique'). "
        "Give job ids or filters (never neither) and at least one --set-* value; "
        "--dry-run reports without changing anything. All values are validated before any job is changed."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        super().add_arguments(parser)
        values = parser.add_argument_group("new values", "What to change; give at least one.")
        values.add_argument("--set-priority", metavar="0-9", help="New priority, 0 (highest) to 9 (lowest).")
        values.add_argument("--set-queue", metavar="NAME", help="Move the jobs to this queue.")
        values.add_argument("--set-worker", metavar="PATH", help="Run the jobs with this worker (dotted path).")
        values.add_argument(
            "--set-tags", metavar="TAG,TAG", help="Replace the tags with these (comma-separated; '' removes all)."
        )
        values.add_argument(
            "--add-tag",
            action="append",
            default=[],
            metavar="TAG",
            help="Add this tag, keeping the others (repeatable).",
        )
        values.add_argument(
            "--set-meta",
            metavar="JSON",
            help="A JSON object merged into meta: its keys are set, the other keys of meta are kept.",
        )
        values.add_argument("--set-args", metavar="JSON", help="A JSON object that replaces args.")
        values.add_argument(
            "--set-max-attempts", metavar="N", help="New max_attempts: at least 1 and not below a job's attempt."
        )
        values.add_argument(
            "--schedule-in",
            metavar="DURATION",
            help=f"Run the jobs DURATION from now ({DURATION_HELP}); 0 makes scheduled jobs available now.",
        )
        values.add_argument(
            "--scheduled-at",
            metavar="DATETIME",
            help="Run the jobs at this ISO 8601 time, e.g. 2030-01-31T09:00:00+00:00 (without an offset: TIME_ZONE).",
        )

    def handle(self, **options: Any) -> None:
        selection = select_jobs(options["ids"], options)
        update = parse_update(options)
        if update.max_attempts is not None:
            try:
                selection.queryset.check_max_attempts(update.max_attempts)
            except ValidationError as exc:
                problem = " ".join(exc.messages)
                raise CommandError(f"Invalid --set-max-attempts {update.max_attempts}: {problem}") from None
        self.perform(UPDATE, selection, options, apply=lambda jobs: jobs.apply_update_counts(update))


def parse_update(options: dict[str, Any]) -> Update:
    """The ``Update`` the flags ask for, validated with the rules of every update; ``CommandError`` naming a bad flag.

    ``--set-meta`` merges into meta; ``--add-tag`` adds tags (onto ``--set-tags`` if given too).
    """
    given = {field: options.get(_dest(option)) for field, option in OPTIONS.items()}
    given = {field: value for field, value in given.items() if value is not None}
    add_tags = [parse_name(tag, "--add-tag") for tag in options.get("add_tag", [])]
    if not given and not add_tags:
        raise CommandError(f"Nothing to update: give at least one of {', '.join(OPTIONS.values())}, --add-tag.")
    if "schedule_in" in given and "scheduled_at" in given:
        raise CommandError("Give --schedule-in or --scheduled-at, not both.")
    changes = {field: _parse(field, value) for field, value in given.items()}
    if "meta" in changes:
        changes["meta"] = Merge(changes["meta"])
    if "tags" in changes:
        changes["tags"] = [*changes["tags"], *add_tags]
    elif add_tags:
        changes["tags"] = Add(add_tags)
    try:
        return Update.from_changes(changes)
    except ValidationError as exc:
        problems = [_describe(field, messages, given) for field, messages in exc.message_dict.items()]
        raise CommandError(" ".join(problems)) from None


def _dest(option: str) -> str:
    return option.lstrip("-").replace("-", "_")


def _parse(field: str, value: Any) -> Any:
    """A command-line string as the value ``clean_changes`` expects for ``field``."""
    option = OPTIONS[field]
    reject_nul(value, option)
    if field in ("priority", "max_attempts"):
        return parse_int(value, option)
    if field in ("meta", "args"):
        return parse_json_object(value, option)
    if field == "tags" and isinstance(value, str):
        return value.split(",")
    if field == "schedule_in":
        return parse_duration(value, option).total_seconds()
    return value


def _describe(field: str, messages: list[str], given: dict[str, Any]) -> str:
    if field not in given:  # tags given by --add-tag alone
        return f"Invalid --add-tag: {' '.join(messages)}"
    return f"Invalid {OPTIONS[field]} {given[field]!r}: {' '.join(messages)}"
