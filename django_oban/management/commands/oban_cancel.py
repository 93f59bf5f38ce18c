"""``manage.py oban_cancel``: cancel jobs chosen by id or by filter."""

from __future__ import annotations

from django_oban.management.jobs_command import JobsCommand


class Command(JobsCommand):
    help = (
        "Cancel incomplete jobs (available, scheduled, executing, retryable), executing ones included: "
        "their running code sees job.cancelled() turn true. Finished jobs are skipped. "
        "Give job ids or filters (never neither); --dry-run reports without changing anything."
    )

    operation_name = "cancel"
