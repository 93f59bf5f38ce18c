"""A validated update of many jobs, shared by the admin's update action and ``oban_update``.

``update_many()`` writes field values as given; an ``Update`` can also merge a dict into
``meta`` and add tags to the ones each job has, set-based on PostgreSQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.db import connections, models
from django.db.models import F, Func, Value
from django.db.models.functions import Cast

from .models import Job
from .querysets import JobQuerySet

# The union of a job's tags and new ones, de-duplicated and sorted by code point like
# ``normalize_tags`` (the "C" collation), as one expression of a set-based UPDATE.
_TAG_UNION = (
    "(SELECT COALESCE(jsonb_agg(tag ORDER BY tag COLLATE \"C\"), '[]'::jsonb) "
    "FROM (SELECT DISTINCT jsonb_array_elements_text(%(expressions)s) AS tag) AS oban_tags)"
)


@dataclass(frozen=True)
class Update:
    """Validated changes: fields written as given (``clean_changes`` output), a dict merged into meta, tags to add."""

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


def attempts_above(jobs: JobQuerySet, max_attempts: int, *, listed: int = 10) -> str | None:
    """The ids of the jobs whose attempt is above ``max_attempts`` (``"3, 8, …"``), or ``None``.

    A max_attempts below a job's attempt breaks a constraint; callers check it before any write.
    """
    ids = list(jobs.filter(attempt__gt=max_attempts).order_by("pk").values_list("pk", flat=True)[: listed + 1])
    if not ids:
        return None
    return ", ".join(map(str, ids[:listed])) + (", …" if len(ids) > listed else "")


def _concat(*expressions: Any, template: str) -> Func:
    """``a || b`` of JSONB values, wrapped in ``template``."""
    return Func(*expressions, template=template, arg_joiner=" || ", output_field=models.JSONField())


def _jsonb(value: Any) -> Cast:
    return Cast(Value(json.dumps(value)), models.JSONField())
