"""``manage.py oban_update``: change fields of jobs chosen by id or by filter."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.db import connections, models
from django.db.models import F, Func, Value
from django.db.models.functions import Cast

from django_oban.changes import clean_changes, normalize_tags
from django_oban.management.base import (
    DURATION_HELP,
    JobsCommand,
    Operation,
    Selection,
    parse_duration,
    parse_int,
    parse_json_object,
    parse_name,
)
from django_oban.models import Job
from django_oban.querysets import JobQuerySet

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

# The union of a job's tags and new ones, de-duplicated and sorted by code point like
# ``normalize_tags`` (the "C" collation), as one expression of a set-based UPDATE.
_TAG_UNION = (
    "(SELECT COALESCE(jsonb_agg(tag ORDER BY tag COLLATE \"C\"), '[]'::jsonb) "
    "FROM (SELECT DISTINCT jsonb_array_elements_text(%(expressions)s) AS tag) AS oban_tags)"
)


class Command(JobsCommand):
    help = (
        "Change jobs, executing ones included: priority, queue, worker, tags, meta, args, max_attempts "
        "or when they run. Give job ids or filters (never neither) and at least one --set-* value; "
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

    def operation(self, selection: Selection, options: dict[str, Any]) -> Operation:
        update = parse_update(options)
        update.check_max_attempts(selection.queryset)
        return Operation("update", "Updated", update.apply)


@dataclass(frozen=True)
class Update:
    """Validated changes: fields written as given, a dict merged into meta, tags to add."""

    changes: dict[str, Any]
    meta: dict[str, Any]
    add_tags: list[str]

    def apply(self, jobs: JobQuerySet) -> int:
        """Update ``jobs``; returns how many were updated.

        Merging into meta and adding tags is set-based on PostgreSQL (JSONB expressions in the
        same transaction as the other changes); on SQLite each job's row is read and written.
        """
        if not self.meta and not self.add_tags:
            return len(jobs.update_many(self.changes))
        if connections[jobs.db].vendor != "postgresql":
            return len(jobs.update_many(self.merged_into))
        if not self.changes:
            return jobs.update(**self.merge_expressions())
        updated = jobs.update_many(self.changes)
        return Job.objects.using(jobs.db).filter(pk__in=[job.pk for job in updated]).update(**self.merge_expressions())

    def merged_into(self, job: Job) -> dict[str, Any]:
        """The changes for ``job``, its meta and tags merged with the new ones."""
        changes = dict(self.changes)
        if self.meta:
            changes["meta"] = {**job.meta, **self.meta}
        if self.add_tags:
            changes["tags"] = [*job.tags, *self.add_tags]
        return changes

    def merge_expressions(self) -> dict[str, Func]:
        """SQL expressions for ``meta || new`` and the union of the tags (PostgreSQL)."""
        expressions = {}
        if self.meta:
            expressions["meta"] = _concat(F("meta"), _jsonb(self.meta), template="(%(expressions)s)")
        if self.add_tags:
            expressions["tags"] = _concat(F("tags"), _jsonb(self.add_tags), template=_TAG_UNION)
        return expressions

    def check_max_attempts(self, jobs: JobQuerySet) -> None:
        """Refuse a max_attempts below the attempt of any selected job, before any write."""
        if "max_attempts" not in self.changes:
            return
        maximum = self.changes["max_attempts"]
        blocking = list(jobs.filter(attempt__gt=maximum).order_by("pk").values_list("pk", flat=True)[:11])
        if blocking:
            listed = ", ".join(map(str, blocking[:10])) + (", …" if len(blocking) > 10 else "")
            raise CommandError(
                f"Invalid --set-max-attempts {maximum}: lower than the attempts already made by job {listed}."
            )


def _concat(*expressions: Any, template: str) -> Func:
    """``a || b`` of JSONB values, wrapped in ``template``."""
    return Func(*expressions, template=template, arg_joiner=" || ", output_field=models.JSONField())


def _jsonb(value: Any) -> Cast:
    return Cast(Value(json.dumps(value)), models.JSONField())


def parse_update(options: dict[str, Any]) -> Update:
    """Validate every new value with the rules of ``update_job``; raise ``CommandError`` naming the bad one."""
    given = {field: options.get(_dest(option)) for field, option in OPTIONS.items()}
    given = {field: value for field, value in given.items() if value is not None}
    add_tags = normalize_tags([parse_name(tag, "--add-tag") for tag in options.get("add_tag", [])])
    if not given and not add_tags:
        raise CommandError(f"Nothing to update: give at least one of {', '.join(OPTIONS.values())}, --add-tag.")
    if "schedule_in" in given and "scheduled_at" in given:
        raise CommandError("Give --schedule-in or --scheduled-at, not both.")
    changes = {field: _parse(field, value) for field, value in given.items()}
    if "tags" in changes:
        changes["tags"] = [*changes["tags"], *add_tags]
        add_tags = []
    try:
        cleaned = clean_changes(changes)
    except ValidationError as exc:
        problems = [_describe(field, messages, given) for field, messages in exc.message_dict.items()]
        raise CommandError(" ".join(problems)) from None
    return Update(cleaned, cleaned.pop("meta", {}), add_tags)


def _dest(option: str) -> str:
    return option.lstrip("-").replace("-", "_")


def _parse(field: str, value: Any) -> Any:
    """A command-line string as the value ``clean_changes`` expects for ``field``."""
    option = OPTIONS[field]
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
    return f"Invalid {OPTIONS[field]} {given[field]!r}: {' '.join(messages)}"
