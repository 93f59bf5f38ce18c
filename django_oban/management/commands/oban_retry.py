"""``manage.py oban_retry``: retry jobs chosen by id or by filter."""

from __future__ import annotations

from django_oban.management.jobs_command import JobsCommand


class Command(JobsCommand):
    help = (
        "Retry jobs: each job not available or executing becomes available now, its max_attempts raised "
        "if needed to allow one more attempt. Available and executing jobs are skipped, and so are unique jobs "
        "that would duplicate one (reported as 'unique'). "
        "Give job ids or filters (never neither); --dry-run reports without changing anything."
    )

    operation_name = "retry"
