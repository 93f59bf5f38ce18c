"""The admin's audit trail: one ``LogEntry`` per job an action or button changed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import router
from django.http import HttpRequest
from django.utils import timezone

from ..models import Job
from ..querysets import JobQuerySet


def log_jobs(request: HttpRequest, jobs: JobQuerySet, flag: int, message: str) -> None:
    """One ``LogEntry`` per job of the set, in one ``INSERT … SELECT``: no job rows pass through Python.

    ``message`` is what was done ("cancelled"); the entry reads "Cancelled via the admin.".
    When log entries live in another database than the jobs, the rows are read and inserted in batches.
    """
    if router.db_for_write(LogEntry) != jobs.db:
        _log_each(request, jobs.order_by().only("pk", "worker", "state").iterator(chunk_size=2000), flag, message)
        return
    jobs.write_log_rows(
        LogEntry,
        action_time=timezone.now(),
        user=request.user.pk,
        content_type=ContentType.objects.db_manager(jobs.db).get_for_model(Job).pk,
        action_flag=flag,
        change_message=_change_message(message),
    )


def log_job(request: HttpRequest, job: Job, flag: int, message: str) -> None:
    """One ``LogEntry`` for ``job``."""
    _log_each(request, [job], flag, message)


def _log_each(request: HttpRequest, jobs: Iterable[Job], flag: int, message: str) -> None:
    content_type = ContentType.objects.get_for_model(Job)
    now = timezone.now()
    LogEntry.objects.bulk_create([
        LogEntry(user_id=cast(int, request.user.pk), content_type=content_type, object_id=str(job.pk),
                 object_repr=str(job)[:200], action_flag=flag, change_message=_change_message(message),
                 action_time=now)
        for job in jobs
    ], batch_size=1000)


def _change_message(message: str) -> str:
    return message[0].upper() + message[1:] + " via the admin."
