"""``manage.py oban_cancel``: cancel jobs chosen by id or by filter."""

from __future__ import annotations

from typing import Any

from django_oban.management.base import JobsCommand, Operation, Selection
from django_oban.querysets import SKIPPED_STATES, JobQuerySet


class Command(JobsCommand):
    help = (
        "Cancel incomplete jobs (available, scheduled, executing, retryable), executing ones included: "
        "their running code sees job.cancelled() turn true. Finished jobs are skipped. "
        "Give job ids or filters (never neither); --dry-run reports without changing anything."
    )

    def operation(self, selection: Selection, options: dict[str, Any]) -> Operation:
        skipped_states, reason = SKIPPED_STATES["cancel"]
        return Operation("cancel", "Cancelled", _cancel, skipped_states, reason)


def _cancel(jobs: JobQuerySet) -> int:
    return jobs.cancel()
