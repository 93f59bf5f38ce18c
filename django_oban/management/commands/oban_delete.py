"""``manage.py oban_delete``: delete jobs chosen by id or by filter."""

from __future__ import annotations

from typing import Any

from django_oban.management.base import JobsCommand, Operation, Selection
from django_oban.querysets import SKIPPED_STATES, JobQuerySet


class Command(JobsCommand):
    help = (
        "Delete jobs permanently. Executing jobs are skipped: cancel them first. "
        "Give job ids or filters (never neither); --dry-run reports without changing anything."
    )

    def operation(self, selection: Selection, options: dict[str, Any]) -> Operation:
        skipped_states, reason = SKIPPED_STATES["delete"]
        return Operation("delete", "Deleted", _delete, skipped_states, reason)


def _delete(jobs: JobQuerySet) -> int:
    return jobs.delete()[0]
