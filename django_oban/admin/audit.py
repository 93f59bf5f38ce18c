"""The admin's audit trail: one ``LogEntry`` per job an action or button changed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connections, models, router
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
    connection = connections[jobs.db]
    quote = connection.ops.quote_name
    log = LogEntry._meta
    log_columns = _columns(LogEntry)
    columns = ", ".join(
        quote(log_columns[name])
        for name in ("action_time", "user", "content_type", "action_flag", "change_message", "object_id", "object_repr")
    )
    job_columns = _columns(Job)
    job_id, worker, state = (f"oban_logged.{quote(job_columns[name])}" for name in ("id", "worker", "state"))
    job_id_text = f"CAST({job_id} AS TEXT)"
    object_repr = f"SUBSTR({worker} || ' #' || {job_id_text} || ' (' || {state} || ')', 1, %s)"
    selected_sql, selected_params = jobs.order_by().values("pk").query.get_compiler(using=jobs.db).as_sql()
    sql = (
        f"INSERT INTO {quote(log.db_table)} ({columns})"
        f" SELECT %s, %s, %s, %s, %s, {job_id_text}, {object_repr}"
        f" FROM {quote(Job._meta.db_table)} AS oban_logged WHERE {job_id} IN ({selected_sql})"
    )
    params = (
        connection.ops.adapt_datetimefield_value(timezone.now()),
        request.user.pk,
        ContentType.objects.db_manager(jobs.db).get_for_model(Job).pk,
        flag,
        _change_message(message),
        log.get_field("object_repr").max_length,
        *selected_params,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


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


def _columns(model: type[models.Model]) -> dict[str, str]:
    """The column of each concrete field of ``model``, by field name."""
    return {field.name: field.column for field in model._meta.concrete_fields if field.column}


def _change_message(message: str) -> str:
    return message[0].upper() + message[1:] + " via the admin."
