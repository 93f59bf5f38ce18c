"""The statements behind ``JobQuerySet``'s writes, for it alone to call.

An ``UPDATE … RETURNING *`` built from a queryset (Django's ``update()`` returns only a
count), the per-job update under row locks that callables (and merges on SQLite) need, and
the values cancel and retry write, and the cut-off a prune measures ages from.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import EmptyResultSet, ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.db.models.sql import UpdateQuery
from django.utils import timezone

from .changes import state_after_rescheduling
from .exceptions import DuplicateJobError
from .states import JobState
from .unique import is_unique_violation, unique_columns
from .updates import Update, max_attempts_error


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
    """``UPDATE … RETURNING *`` every row of ``jobs`` with ``values``, in one statement."""
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
    with transaction.mark_for_rollback_on_error(using=jobs.db):
        return list(jobs.model._default_manager.db_manager(jobs.db).raw(f"{sql} RETURNING *", params))


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
