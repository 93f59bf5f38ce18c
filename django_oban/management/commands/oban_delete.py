"""``manage.py oban_delete``: delete jobs chosen by id or by filter."""

from __future__ import annotations

from django_oban.management.jobs_command import JobsCommand


class Command(JobsCommand):
    help = (
        "Delete jobs permanently. Executing jobs are skipped: cancel them first. "
        "Give job ids or filters (never neither); --dry-run reports without changing anything."
    )

    operation_name = "delete"
