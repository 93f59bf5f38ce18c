"""``manage.py oban_retry``: retry jobs chosen by id or by filter."""

from __future__ import annotations

from typing import Any

from django_oban.management.base import JobsCommand, Operation, Selection
from django_oban.querysets import SKIPPED_STATES, JobQuerySet


class Command(JobsCommand):
    help = (
        "Retry jobs: each job not available or executing becomes available now, its max_attempts raised "
        "if needed to allow one more attempt. Available and executing jobs are skipped. "
        "Give job ids or filters (never neither); --dry-run reports without changing anything."
    )

    def operation(self, selection: Selection, options: dict[str, Any]) -> Operation:
        skipped_states, reason = SKIPPED_STATES["retry"]
        return Operation("retry", "Retried", _retry, skipped_states, reason)


def _retry(jobs: JobQuerySet) -> int:
    return jobs.retry()
