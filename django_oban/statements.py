"""The statements behind ``JobQuerySet``, for it alone to call.

An ``UPDATE … RETURNING *`` built from a queryset (Django's ``update()`` returns only a
count), the per-job update under row locks that callables (and merges on SQLite) need, the
values cancel and retry write, the cut-off a prune measures ages from, and the index skip
scans listing every queue and worker: ``SELECT DISTINCT`` reads every row, these recursive
queries jump from one value to the next along an index, a few index probes per value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from django.core.exceptions import EmptyResultSet, ValidationError
from django.db import IntegrityError, connections, models, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.db.models.sql import UpdateQuery
from django.utils import timezone

from .changes import state_after_rescheduling
from .exceptions import DuplicateJobError
from .returning import returning_jobs
from .states import JobState
from .unique import INSERT_ROUNDS, entering_duplicates, is_unique_violation, unique_columns
from .updates import Update, max_attempts_error

_ATTEMPT_CONSTRAINT = "oban_jobs_attempt_range"
_Written = TypeVar("_Written")
_RACE = "A concurrent change made a job of this retry a duplicate of a unique job; nothing was retried. Try again."


def cancel_values() -> dict[str, Any]:
    """What cancel writes: ``state=cancelled``, ``cancelled_at=now``."""
    return {"state": JobState.CANCELLED, "cancelled_at": timezone.now()}


def retry_values() -> dict[str, Any]:
    """What retry writes: available now, finish times cleared, at least one attempt left."""
    return {
        "state": JobState.AVAILABLE,
        "scheduled_at": timezone.now(),
        "completed_at": None,
        "cancelled_at": None,
        "discarded_at": None,
        "max_attempts": Greatest(F("max_attempts"), F("attempt") + 1),
    }


def prune_cutoff(older_than: Any) -> datetime:
    """``now - older_than`` for seconds or a ``timedelta`` that is not negative."""
    try:
        if isinstance(older_than, (int, float)) and not isinstance(older_than, bool) and math.isfinite(older_than):
            older_than = timedelta(seconds=older_than)
        if not isinstance(older_than, timedelta) or older_than < timedelta(0):
            raise ValueError(f"older_than must be a non-negative number of seconds or timedelta, not {older_than!r}.")
        return timezone.now() - older_than
    except OverflowError:
        raise ValueError(f"older_than {older_than!r} reaches back before the year 1.") from None


def update_returning(jobs: models.QuerySet[Any], values: dict[str, Any]) -> list[Any]:
    """``UPDATE … RETURNING`` every row of ``jobs`` with ``values``, in one statement; the rows as jobs."""
    if jobs.query.is_sliced:
        raise TypeError("Cannot update a query once a slice has been taken.")
    if jobs.query.combinator:
        raise TypeError(f"Calling update() after {jobs.query.combinator}() is not supported.")
    query = jobs.order_by().query.chain(UpdateQuery)
    query.add_update_values(values)  # type: ignore[attr-defined]
    query.annotations = {}
    try:
        sql, params = query.get_compiler(jobs.db).as_sql()
    except EmptyResultSet:
        return []
    if not sql:
        return []
    return returning_jobs(jobs.model, jobs.db, sql, params)


def update_each(jobs: models.QuerySet[Any], compute: Callable[[Any], Update]) -> list[Any]:
    """Lock the rows of ``jobs``, compute and validate every job's update, then write them all.

    All or nothing: one ``ValidationError`` gathers every job's problems ("Job 7: …").
    Returns the jobs, by id, as written.
    """
    with transaction.atomic(using=jobs.db):
        locked = list(jobs.select_for_update().order_by("pk"))
        plans: list[tuple[Any, dict[str, Any]]] = []
        errors: dict[str, list[str]] = {}
        for job in locked:
            try:
                values = compute(job).for_job(job)
                if values.get("max_attempts", job.max_attempts) < job.attempt:
                    raise max_attempts_error()
            except ValidationError as exc:
                for name, messages in exc.update_error_dict({}).items():
                    errors.setdefault(name, []).extend(f"Job {job.pk}: {text}" for text in _texts(messages))
                continue
            plans.append((job, values))
        if errors:
            raise ValidationError(errors)
        # Taken after every update was computed, so that a ``schedule_in=0`` is not in its future.
        changed, fields = _apply_in_memory(plans, timezone.now())
        if changed:
            try:
                jobs.model._default_manager.db_manager(jobs.db).bulk_update(changed, sorted(fields))
            except IntegrityError as exc:
                if not is_unique_violation(exc):
                    raise
                raise DuplicateJobError("A unique job would duplicate another; no job was updated.") from exc
    return locked


def _apply_in_memory(plans: list[tuple[Any, dict[str, Any]]], now: datetime) -> tuple[list[Any], set[str]]:
    """Set each job's new values (and the state rescheduling implies); return the changed jobs and fields."""
    changed: list[Any] = []
    fields: set[str] = set()
    for job, values in plans:
        if not values:
            continue
        for name, value in values.items():
            setattr(job, name, value)
        fields.update(values)
        if "scheduled_at" in values:
            job.state = state_after_rescheduling(job.state, job.scheduled_at, now)
            fields.add("state")
        if job.unique is not None:
            job.unique_key, job.unique_states = unique_columns(job)
            fields.update(("unique_key", "unique_states"))
        changed.append(job)
    return changed, fields


def _texts(messages: list[Any]) -> list[str]:
    return [message for error in messages for message in ValidationError(error).messages]


def distinct_workers(jobs: models.QuerySet[Any]) -> list[str]:
    """Every worker path in ``oban_jobs``, sorted: one index probe per worker (``oban_jobs_worker``)."""
    connection = connections[jobs.db]
    table, worker = connection.ops.quote_name(jobs.model._meta.db_table), connection.ops.quote_name("worker")
    sql = (
        f"WITH RECURSIVE oban_workers(worker) AS ("
        f" SELECT MIN({worker}) FROM {table}"
        f" UNION ALL"
        f" SELECT (SELECT MIN({worker}) FROM {table} WHERE {worker} > oban_workers.worker)"
        f" FROM oban_workers WHERE oban_workers.worker IS NOT NULL"
        f") SELECT worker FROM oban_workers WHERE worker IS NOT NULL"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]


def distinct_queues(jobs: models.QuerySet[Any]) -> list[str]:
    """Every queue in ``oban_jobs``, sorted: one index probe per (state, queue) pair (``oban_jobs_state_queue``)."""
    connection = connections[jobs.db]
    quote = connection.ops.quote_name
    table, state, queue = quote(jobs.model._meta.db_table), quote("state"), quote("queue")
    states = " UNION ALL ".join(["SELECT %s AS state"] * len(JobState.values))
    sql = (
        f"WITH RECURSIVE oban_queues(state, queue) AS ("
        f" SELECT states.state, (SELECT MIN({queue}) FROM {table} WHERE {state} = states.state)"
        f" FROM ({states}) AS states"
        f" UNION ALL"
        f" SELECT oban_queues.state, (SELECT MIN({queue}) FROM {table}"
        f"  WHERE {state} = oban_queues.state AND {queue} > oban_queues.queue)"
        f" FROM oban_queues WHERE oban_queues.queue IS NOT NULL"
        f") SELECT DISTINCT queue FROM oban_queues WHERE queue IS NOT NULL ORDER BY queue"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, JobState.values)
        return [row[0] for row in cursor.fetchall()]


def retry_written(jobs: models.QuerySet[Any], write: Callable[[Any], _Written]) -> _Written:
    """``write`` the jobs a retry changes, ``jobs`` less those that would duplicate a unique job;
    again if a concurrent change made one a duplicate meanwhile."""
    for _ in range(INSERT_ROUNDS):
        try:
            return write(jobs.exclude(pk__in=entering_duplicates(jobs).values("pk")))
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            # Outside a transaction the statement can run again; inside one, it is aborted.
            if connections[jobs.db].in_atomic_block:
                raise DuplicateJobError(_RACE) from exc
    raise DuplicateJobError(_RACE)


@contextmanager
def max_attempts_checked(jobs: Any, update: Update) -> Iterator[None]:
    """Run a write of ``update`` to ``jobs`` in a savepoint; if it sets a max_attempts below a
    job's attempt, a ``ValidationError`` naming the jobs (``jobs.check_max_attempts``)."""
    maximum = update.max_attempts
    if maximum is None:
        yield
        return
    try:
        with transaction.atomic(using=jobs.db):
            yield
    except IntegrityError as exc:
        if _ATTEMPT_CONSTRAINT not in str(exc):
            raise
        jobs.check_max_attempts(maximum)
        raise max_attempts_error() from exc


def insert_log_rows(jobs: models.QuerySet[Any], log_model: type[models.Model], values: dict[str, Any]) -> None:
    """``INSERT INTO <log_model> … SELECT``: one row per job of ``jobs``, in one statement.

    ``values`` (by field name) are the same in every row; ``object_id`` is the job's id and
    ``object_repr`` reads "worker #id (state)". No job row passes through Python.
    """
    connection = connections[jobs.db]
    quote = connection.ops.quote_name
    log, job = log_model._meta, jobs.model._meta
    fields: list[Any] = [log.get_field(name) for name in values]
    object_id, object_repr_field = log.get_field("object_id"), cast(Any, log.get_field("object_repr"))
    columns = ", ".join(quote(field.column) for field in [*fields, object_id, object_repr_field])
    job_id, worker, state = (f"oban_logged.{quote(job.get_field(name).column)}" for name in ("id", "worker", "state"))
    job_id_text = f"CAST({job_id} AS TEXT)"
    object_repr = f"SUBSTR({worker} || ' #' || {job_id_text} || ' (' || {state} || ')', 1, %s)"
    selected_sql, selected_params = jobs.order_by().values("pk").query.get_compiler(using=jobs.db).as_sql()
    placeholders = ", ".join(["%s"] * len(fields))
    sql = (
        f"INSERT INTO {quote(log.db_table)} ({columns})"
        f" SELECT {placeholders}, {job_id_text}, {object_repr}"
        f" FROM {quote(job.db_table)} AS oban_logged WHERE {job_id} IN ({selected_sql})"
    )
    params = [
        *(field.get_db_prep_value(value, connection) for field, value in zip(fields, values.values(), strict=True)),
        object_repr_field.max_length,
        *selected_params,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
