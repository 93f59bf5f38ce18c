"""``JobQuerySet``: set-based management of jobs, one SQL statement per operation."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Union

from asgiref.sync import sync_to_async
from django.core.exceptions import EmptyResultSet, ValidationError
from django.db import IntegrityError, connections, models, transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Greatest
from django.db.models.sql import UpdateQuery
from django.utils import timezone

from .changes import clean_changes, state_after_rescheduling
from .states import FINISHED_STATES, INCOMPLETE_STATES, JobState

if TYPE_CHECKING:
    from .models import Job

Changes = Union[Mapping[str, Any], Callable[["Job"], Mapping[str, Any]]]

#: Why each operation leaves some jobs alone: the states it skips, and the reason.
SKIPPED_STATES: dict[str, tuple[tuple[str, ...], str]] = {
    "cancel": (FINISHED_STATES, "already finished"),
    "retry": ((JobState.AVAILABLE, JobState.EXECUTING), "already available or executing"),
    "delete": ((JobState.EXECUTING,), "executing"),
}

# Database constraints that a valid-looking update can still break, by the field to blame.
_CONSTRAINT_MESSAGES = {
    "oban_jobs_attempt_range": ("max_attempts", "max_attempts cannot be lower than a job's current attempt."),
}


@contextmanager
def _constraint_errors_as_validation_errors(using: str) -> Iterator[None]:
    """Run a write in a savepoint; a broken constraint becomes a ``ValidationError``."""
    try:
        with transaction.atomic(using=using):
            yield
    except IntegrityError as exc:
        for constraint, (field, message) in _CONSTRAINT_MESSAGES.items():
            if constraint in str(exc):
                raise ValidationError({field: [message]}) from exc
        raise


class JobQuerySet(models.QuerySet["Job"]):
    """Filters by state, and set-based cancel / retry / delete / update of the filtered jobs."""

    # -- filters ---------------------------------------------------------------

    def available(self) -> JobQuerySet:
        return self.filter(state=JobState.AVAILABLE)

    def scheduled(self) -> JobQuerySet:
        return self.filter(state=JobState.SCHEDULED)

    def executing(self) -> JobQuerySet:
        return self.filter(state=JobState.EXECUTING)

    def retryable(self) -> JobQuerySet:
        return self.filter(state=JobState.RETRYABLE)

    def completed(self) -> JobQuerySet:
        return self.filter(state=JobState.COMPLETED)

    def discarded(self) -> JobQuerySet:
        return self.filter(state=JobState.DISCARDED)

    def cancelled(self) -> JobQuerySet:
        return self.filter(state=JobState.CANCELLED)

    def incomplete(self) -> JobQuerySet:
        """Jobs that may still run: available, scheduled, executing or retryable."""
        return self.filter(state__in=INCOMPLETE_STATES)

    def finished(self) -> JobQuerySet:
        """Jobs in a terminal state: completed, discarded or cancelled."""
        return self.filter(state__in=FINISHED_STATES)

    def tagged(self, tag: str) -> JobQuerySet:
        """Jobs carrying ``tag`` (compared after normalisation: stripped, lower-cased)."""
        tag = tag.strip().lower()
        if connections[self.db].features.supports_json_field_contains:
            return self.filter(tags__contains=[tag])
        # SQLite has no JSON containment; tags are stored as a JSON array of strings.
        return self.filter(tags__icontains=json.dumps(tag))

    # -- management --------------------------------------------------------------

    def cancel(self) -> int:
        """Cancel the incomplete jobs in this set, executing ones included; return the count.

        Executing jobs learn of it through ``job.cancelled()``: on PostgreSQL a trigger
        publishes their ids on the ``oban_jobs_cancelled`` channel when this commits.
        """
        target, values = self._cancel_plan()
        return target._write(values)

    def retry(self) -> int:
        """Make every job of this set that is not available or executing available now."""
        target, values = self._retry_plan()
        return target._write(values)

    def delete(self) -> tuple[int, dict[str, int]]:  # type: ignore[override]
        """Delete the jobs of this set, except executing ones, in one statement.

        Returns Django's usual ``(count, {"django_oban.Job": count})``. No ``pre_delete`` or
        ``post_delete`` signals are sent.
        """
        self._not_support_combined_queries("delete")  # type: ignore[attr-defined]
        if self.query.is_sliced:
            raise TypeError("Cannot use 'limit' or 'offset' with delete().")
        deletable = self.exclude(state=JobState.EXECUTING).order_by()
        with transaction.mark_for_rollback_on_error(using=deletable.db):
            count = deletable._raw_delete(deletable.db)
        return count, {self.model._meta.label: count}

    delete.alters_data = True  # type: ignore[attr-defined]

    def update_many(self, changes: Changes) -> list[Job]:
        """Apply ``changes`` (a dict, or a callable receiving each job) to every job of this set.

        Returns the updated jobs ordered by id. Invalid changes raise ``ValidationError``
        naming the field and change no job at all.
        """
        if callable(changes):
            return self._update_each(changes)
        now = timezone.now()
        values = self._update_values(clean_changes(changes, now), now)
        if not values:
            return list(self.order_by("pk"))
        with _constraint_errors_as_validation_errors(self.db):
            jobs = self._write_returning(values)
        return sorted(jobs, key=lambda job: job.pk)

    def stats(self) -> dict[str, dict[str, int]]:
        """Counts of jobs by queue and state: ``{queue: {state: count}}``, every state present."""
        stats: dict[str, dict[str, int]] = {}
        rows = self.order_by().values_list("queue", "state").annotate(count=models.Count("pk"))
        for queue, state, count in rows:
            stats.setdefault(queue, dict.fromkeys(JobState.values, 0))[state] = count
        return dict(sorted(stats.items()))

    def skipped_by(self, operation: str) -> dict[str, int]:
        """How many jobs of this set ``operation`` ("cancel", "retry", "delete") would skip, by state.

        One ``GROUP BY`` query. The reason for a state is ``SKIPPED_STATES[operation][1]``.
        """
        states, _ = SKIPPED_STATES[operation]
        rows = self.filter(state__in=states).order_by().values_list("state").annotate(count=models.Count("pk"))
        return dict(sorted(rows))

    def prunable(self, older_than: float | timedelta, *, states: Iterable[str] = FINISHED_STATES) -> JobQuerySet:
        """The jobs of this set in ``states`` (finished ones) that finished more than ``older_than`` ago."""
        if isinstance(older_than, (int, float)):
            older_than = timedelta(seconds=older_than)
        cutoff = timezone.now() - older_than
        finished_at: dict[str, str] = {
            JobState.COMPLETED: "completed_at",
            JobState.CANCELLED: "cancelled_at",
            JobState.DISCARDED: "discarded_at",
        }
        condition = models.Q()
        for state in states:
            if state not in finished_at:
                raise ValueError(f"Only finished jobs can be pruned, not {state!r} ones.")
            condition |= models.Q(state=state, **{f"{finished_at[state]}__lt": cutoff})
        return self.filter(condition) if condition else self.none()

    def prune(
        self,
        older_than: float | timedelta,
        *,
        states: Iterable[str] = FINISHED_STATES,
        batch_size: int = 10_000,
    ) -> int:
        """Delete finished jobs of this set that finished more than ``older_than`` ago.

        Works in batches of ``batch_size`` rows, one short ``DELETE`` statement (and
        transaction) each, so a huge backlog never holds long locks. Returns the count.
        """
        states = tuple(states)
        prunable = self.prunable(older_than, states=states)
        if not states:
            return 0
        total = 0
        while True:
            batch = prunable.order_by().values("pk")[:batch_size]
            deleted = self.model._default_manager.db_manager(self.db).filter(pk__in=batch)._raw_delete(self.db)
            total += deleted
            if deleted < batch_size:
                return total

    async def acancel(self) -> int:
        return await sync_to_async(self.cancel)()

    async def aretry(self) -> int:
        return await sync_to_async(self.retry)()

    async def aupdate_many(self, changes: Changes) -> list[Job]:
        return await sync_to_async(self.update_many)(changes)

    async def astats(self) -> dict[str, dict[str, int]]:
        return await sync_to_async(self.stats)()

    # -- internals -----------------------------------------------------------------

    def _cancel_plan(self) -> tuple[JobQuerySet, dict[str, Any]]:
        return self.incomplete(), {"state": JobState.CANCELLED, "cancelled_at": timezone.now()}

    def _retry_plan(self) -> tuple[JobQuerySet, dict[str, Any]]:
        values = {
            "state": JobState.AVAILABLE,
            "scheduled_at": timezone.now(),
            "completed_at": None,
            "cancelled_at": None,
            "discarded_at": None,
            "max_attempts": Greatest(F("max_attempts"), F("attempt") + 1),
        }
        return self.exclude(state__in=[JobState.AVAILABLE, JobState.EXECUTING]), values

    @staticmethod
    def _update_values(cleaned: dict[str, Any], now: datetime) -> dict[str, Any]:
        """Field values for a set-based update, with the state change that rescheduling implies."""
        values = dict(cleaned)
        scheduled_at = values.get("scheduled_at")
        if scheduled_at is not None:
            moves = {
                state: state_after_rescheduling(state, scheduled_at, now)
                for state in (JobState.AVAILABLE, JobState.SCHEDULED)
            }
            whens = [When(state=old, then=Value(new)) for old, new in moves.items() if old != new]
            if whens:
                values["state"] = Case(*whens, default=F("state"), output_field=models.TextField())
        return values

    def _write(self, values: dict[str, Any]) -> int:
        """``UPDATE`` every row of this set; returns the row count."""
        return self.order_by().update(**values)

    def _write_returning(self, values: dict[str, Any]) -> list[Job]:
        """``UPDATE … RETURNING *`` every row of this set, in one statement."""
        self._not_support_combined_queries("update")  # type: ignore[attr-defined]
        if self.query.is_sliced:
            raise TypeError("Cannot update a query once a slice has been taken.")
        query = self.order_by().query.chain(UpdateQuery)
        query.add_update_values(values)  # type: ignore[attr-defined]
        query.annotations = {}
        try:
            sql, params = query.get_compiler(self.db).as_sql()
        except EmptyResultSet:
            return []
        if not sql:
            return []
        with transaction.mark_for_rollback_on_error(using=self.db):
            return list(self.model._default_manager.db_manager(self.db).raw(f"{sql} RETURNING *", params))

    def _update_each(self, compute: Callable[[Job], Mapping[str, Any]]) -> list[Job]:
        """Lock the rows, compute and validate every job's changes, then write them all."""
        with transaction.atomic(using=self.db):
            jobs: list[Job] = list(self.select_for_update().order_by("pk"))
            now = timezone.now()
            plans: list[tuple[Job, dict[str, Any]]] = []
            errors: dict[str, list[str]] = {}
            for job in jobs:
                try:
                    plans.append((job, _checked_changes(job, compute(job), now)))
                except ValidationError as exc:
                    for field, messages in exc.update_error_dict({}).items():
                        errors.setdefault(field, []).extend(f"Job {job.pk}: {message}" for message in _texts(messages))
            if errors:
                raise ValidationError(errors)
            changed, fields = _apply_in_memory(plans, now)
            if changed:
                self.model._default_manager.db_manager(self.db).bulk_update(changed, sorted(fields))
        return jobs


def _checked_changes(job: Job, changes: Any, now: datetime) -> dict[str, Any]:
    cleaned = clean_changes(changes, now)
    if cleaned.get("max_attempts", job.max_attempts) < job.attempt:
        raise ValidationError({"max_attempts": [_CONSTRAINT_MESSAGES["oban_jobs_attempt_range"][1]]})
    return cleaned


def _apply_in_memory(plans: list[tuple[Job, dict[str, Any]]], now: datetime) -> tuple[list[Job], set[str]]:
    """Set each job's new values (and the state rescheduling implies); return the changed jobs and fields."""
    changed: list[Job] = []
    fields: set[str] = set()
    for job, cleaned in plans:
        if not cleaned:
            continue
        for field, value in cleaned.items():
            setattr(job, field, value)
        fields.update(cleaned)
        if "scheduled_at" in cleaned:
            job.state = state_after_rescheduling(job.state, job.scheduled_at, now)
            fields.add("state")
        changed.append(job)
    return changed, fields


def _texts(messages: list[Any]) -> list[str]:
    return [message for error in messages for message in ValidationError(error).messages]
