"""``JobQuerySet``: the one place job semantics live, one SQL statement per operation.

Which states each operation skips, and why, is the table in ``operations.py``; what an
update writes is an ``Update`` (``updates.py``). Every surface (the functions of ``api.py``,
``Job`` methods, the admin, the management commands) calls the public methods here, and each
management method reports itself once with the ``jobs_managed`` signal (``managing.py``)::

    jobs = Job.objects.filter(queue="mailers")
    jobs.cancel(), jobs.retry(), jobs.run_now(), jobs.delete()     # counts (delete: Django's pair)
    jobs.cancel_returning(), jobs.retry_returning()                # the changed rows
    jobs.update_many({"priority": 0, "tags": Add(["urgent"])})    # the rows, by id
    jobs.apply_update(Update.from_changes({...}))                 # a count
    jobs.count_by_state(), jobs.skipped_by(CANCEL), jobs.affected_by(CANCEL), jobs.stats()

Over 300 lines on purpose: one class is the one place a reader looks for a job rule. The
statements it runs are in ``statements.py``, conditions needing the engine in ``conditions.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.db import models, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from .conditions import finished_condition, is_postgresql, tag_condition
from .inserts import insert_returning_ids
from .managing import reports
from .operations import CANCEL, DELETE, PRUNE, RETRY, RUN_NOW, Operation, operation_named
from .records import MAX_ID
from .statements import (
    cancel_values,
    distinct_queues,
    distinct_workers,
    insert_log_rows,
    max_attempts_checked,
    prune_cutoff,
    retry_values,
    retry_written,
    update_each,
    update_returning,
)
from .states import FINISHED_STATES, INCOMPLETE_STATES, JobState
from .unique import FIELDS as UNIQUE_FIELDS
from .unique import entering_duplicates, update_unique_jobs
from .updates import Update, max_attempts_error

#: Update changes: a dict (of values, ``Merge`` and ``Add``), an ``Update``, or a callable
#: receiving each job (its row locked) and returning its dict.
Changes = Mapping[str, Any] | Update | Callable[[Any], Mapping[str, Any]]

class JobQuerySet(models.QuerySet[Any]):
    """Filters by state, counts, and set-based cancel / retry / delete / update of the filtered jobs."""

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

    def with_ids(self, ids: Iterable[int]) -> JobQuerySet:
        """The jobs with these ids; an id beyond 64 bits (which no row can have) matches nothing."""
        return self.filter(pk__in=[pk for pk in ids if -MAX_ID - 1 <= pk <= MAX_ID])

    def tagged(self, tag: str) -> JobQuerySet:
        """Jobs carrying ``tag`` (compared after normalisation); ``TypeError`` if it is not a string."""
        return self.filter(tag_condition(tag, self.db))

    def affected_by(self, operation: str | Operation) -> JobQuerySet:
        """The jobs of this set that ``operation`` (an ``Operation`` or its name) changes."""
        return self.exclude(state__in=operation_named(operation).skipped_states)

    # -- counts ------------------------------------------------------------------

    def count_by_state(self) -> dict[str, int]:
        """``{state: count}`` of this set in ``JobState`` order, states without jobs left out; one query."""
        rows = dict(self.order_by().values_list("state").annotate(count=models.Count("pk")))
        return {state: rows[state] for state in JobState.values if state in rows}

    def skipped_by(self, operation: str | Operation) -> dict[str, int]:
        """How many jobs of this set ``operation`` would skip, by state; one ``GROUP BY`` query.

        Why it skips them is ``operation.skip_reason`` (see ``operations.py``).
        """
        return self.filter(state__in=operation_named(operation).skipped_states).count_by_state()

    def stats(self) -> dict[str, dict[str, int]]:
        """Counts of jobs by queue and state: ``{queue: {state: count}}``, every state present."""
        stats: dict[str, dict[str, int]] = {}
        rows = self.order_by().values_list("queue", "state").annotate(count=models.Count("pk"))
        for queue, state, count in rows:
            stats.setdefault(queue, dict.fromkeys(JobState.values, 0))[state] = count
        return dict(sorted(stats.items()))

    def queue_names(self) -> list[str]:
        """Every queue with a job in the table (whatever this set's filter), sorted.

        Read by an index skip scan, a few index probes per queue, where ``SELECT DISTINCT``
        would read every row.
        """
        return distinct_queues(self)

    def worker_names(self) -> list[str]:
        """Every worker path with a job in the table (whatever this set's filter), sorted; a skip scan."""
        return distinct_workers(self)

    def write_log_rows(self, log_model: type[models.Model], **values: Any) -> None:
        """One row of ``log_model`` (the admin's ``LogEntry``) per job of this set, in one ``INSERT … SELECT``.

        ``values`` (by field name) are the same in every row; ``object_id`` and ``object_repr``
        are the job's id and "worker #id (state)".
        """
        insert_log_rows(self, log_model, values)

    # -- management --------------------------------------------------------------

    @reports("cancel")
    def cancel(self) -> int:
        """Cancel the incomplete jobs in this set, executing ones included; return the count.

        Executing jobs learn of it through ``job.cancelled()``: on PostgreSQL a trigger
        publishes their ids on the ``oban_jobs_cancelled`` channel when this commits.
        """
        return self.affected_by(CANCEL)._write(cancel_values())

    @reports("cancel")
    def cancel_returning(self) -> list[Any]:
        """Like ``cancel()``, returning the cancelled jobs as stored (one ``UPDATE … RETURNING``)."""
        return update_returning(self.affected_by(CANCEL), cancel_values())

    @reports("retry")
    def retry(self) -> int:
        """Make every job of this set that is not available or executing available now; return the count.

        ``max_attempts`` becomes ``max(max_attempts, attempt + 1)`` so an exhausted job runs once more.
        Unique jobs that would duplicate one (``retry_duplicates()``) are skipped.
        """
        count: int = retry_written(self.affected_by(RETRY), lambda jobs: jobs._write(retry_values()))
        return count

    @reports("retry")
    def retry_returning(self) -> list[Any]:
        """Like ``retry()``, returning the retried jobs as stored (one ``UPDATE … RETURNING``)."""
        return retry_written(self.affected_by(RETRY), lambda jobs: update_returning(jobs, retry_values()))

    def retry_duplicates(self) -> JobQuerySet:
        """The jobs of this set that retry skips because they would duplicate a unique job (reason ``"unique"``)."""
        return entering_duplicates(self.affected_by(RETRY))

    @reports("run_now")
    def run_now(self) -> int:
        """Make the scheduled and retryable jobs of this set due now; return the count."""
        return self.affected_by(RUN_NOW).apply_update(Update.from_changes({"schedule_in": 0}))

    @reports("delete")
    def delete(self) -> tuple[int, dict[str, int]]:
        """Delete the jobs of this set, except executing ones, in one statement.

        Returns Django's usual ``(count, {"django_oban.Job": count})``. No ``pre_delete`` or
        ``post_delete`` signals are sent.
        """
        self._not_support_combined_queries("delete")  # type: ignore[attr-defined]
        if self.query.is_sliced:
            raise TypeError("Cannot use 'limit' or 'offset' with delete().")
        count = self.affected_by(DELETE)._delete_rows()
        return count, {self.model._meta.label: count}

    delete.alters_data = True  # type: ignore[attr-defined]

    def insert_prepared(self, jobs: list[Any]) -> None:
        """Insert new jobs, already validated (``Job.prepare_for_insert``), in one statement.

        Sets each job's id; sends no signal. On PostgreSQL one ``INSERT … SELECT … RETURNING``
        (``inserts.insert_returning_ids``; a second one for jobs given their own ids, as
        ``bulk_create`` splits them), elsewhere ``bulk_create``.
        """
        if not jobs:
            return
        self._for_write = True  # as bulk_create: self.db is the database for writes
        using = self.db
        if not is_postgresql(using):
            self.model._default_manager.db_manager(using).bulk_create(jobs)
            return
        given = [job for job in jobs if job.pk is not None]
        if not given:
            insert_returning_ids(jobs, using)
            return
        with transaction.atomic(using=using, savepoint=False):
            for group in ([job for job in jobs if job.pk is None], given):
                if group:
                    insert_returning_ids(group, using)

    def perform(self, operation: str | Operation) -> int:
        """Run ``operation`` (cancel, retry, run_now, delete or prune, by name or from the table)
        on this set; return how many jobs it changed. An update needs its changes: ``apply_update()``.
        """
        writes: dict[str, Callable[[], int]] = {
            "cancel": self.cancel,
            "retry": self.retry,
            "run_now": self.run_now,
            "delete": lambda: self.delete()[0],
            "prune": lambda: self.affected_by(PRUNE)._delete_rows(),
        }
        name = operation_named(operation).name
        if name not in writes:
            raise ValueError(f"{name} needs its changes: call apply_update() or update_many().")
        return writes[name]()

    @reports("update")
    def update_many(self, changes: Changes) -> list[Any]:
        """Apply ``changes`` to every job of this set and return the jobs as stored, by id.

        ``changes``: a dict (``Merge``/``Add`` values merge instead of replacing), an
        ``Update``, or a callable receiving each job and returning its dict. Invalid changes
        raise ``ValidationError`` naming the field and change no job at all. On PostgreSQL a
        dict is one ``UPDATE … RETURNING`` whatever it holds.
        """
        if callable(changes):
            compute = changes
            return update_each(self, lambda job: Update.from_changes(compute(job)))
        update = Update.from_changes(changes)
        if not update:
            return list(self.order_by("pk"))
        if update.reads_jobs and not is_postgresql(self.db):
            return update_each(self, lambda job: update)
        values = update.expressions(timezone.now())
        with max_attempts_checked(self, update):
            if not _rekeys(update):
                jobs = update_returning(self, values)
            else:
                jobs = update_returning(self, self._unique_jobs_kept(values))
                # Unique jobs were left as they were, for their keys change too: job by job.
                kept = [job.pk for job in jobs if job.unique_key is not None]
                if kept:
                    rekeyed = {job.pk: job for job in update_unique_jobs(self.filter(pk__in=kept), update)}
                    jobs = [rekeyed.get(job.pk, job) for job in jobs]
        return sorted(jobs, key=lambda job: job.pk)

    @reports("update")
    def apply_update(self, update: Update) -> int:
        """Write ``update`` to every job of this set; return how many were updated.

        For callers that need no rows: one ``UPDATE`` on PostgreSQL whatever the update holds;
        on SQLite merges and added tags read and write each job in one transaction.
        """
        return self.apply_update_counts(update)[0]

    @reports("update")
    def apply_update_counts(self, update: Update) -> tuple[int, int]:
        """Like ``apply_update()``; return ``(updated, skipped)``, ``skipped`` counting the unique jobs
        left unchanged because they would become duplicates (reason ``UPDATE.duplicate_reason``)."""
        if not update:
            return self.count(), 0
        if _rekeys(update):
            conflicts = [job.conflict for job in self.update_many(update)]
            return conflicts.count(False), conflicts.count(True)
        if update.reads_jobs and not is_postgresql(self.db):
            return len(update_each(self, lambda job: update)), 0
        with max_attempts_checked(self, update):
            return self._write(update.expressions(timezone.now())), 0

    def check_max_attempts(self, max_attempts: int) -> None:
        """Raise ``ValidationError`` (naming the jobs) if ``max_attempts`` is below a job's attempt in this set.

        For callers that write in several transactions and must refuse before the first.
        """
        ids = list(self.filter(attempt__gt=max_attempts).order_by("pk").values_list("pk", flat=True)[:11])
        if ids:
            raise max_attempts_error(ids)

    # -- pruning -------------------------------------------------------------------

    def prunable(self, older_than: float | timedelta, *, states: Iterable[str] = FINISHED_STATES) -> JobQuerySet:
        """The jobs of this set in ``states`` (finished ones) that finished more than ``older_than`` ago.

        ``older_than``: seconds or a ``timedelta``, not negative; ``ValueError`` otherwise.
        """
        if isinstance(states, (str, bytes)) or not isinstance(states, Iterable):
            raise TypeError(f"states must be a list of finished states, not {states!r}.")
        condition = finished_condition("lt", prune_cutoff(older_than), states)
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
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, not {batch_size!r}.")
        prunable = self.prunable(older_than, states=states)
        total = 0
        while True:
            batch = prunable.order_by().values("pk")[:batch_size]
            # The outer statement repeats the conditions: PostgreSQL re-checks them on a row
            # changed since the batch was chosen, so a job retried meanwhile is kept.
            deleted = prunable.filter(pk__in=batch)._delete_rows()
            total += deleted
            if deleted < batch_size:
                return total

    # -- async twins -----------------------------------------------------------------

    async def acancel(self) -> int:
        return await sync_to_async(self.cancel)()

    async def aretry(self) -> int:
        return await sync_to_async(self.retry)()

    async def aupdate_many(self, changes: Changes) -> list[Any]:
        return await sync_to_async(self.update_many)(changes)

    async def aapply_update(self, update: Update) -> int:
        return await sync_to_async(self.apply_update)(update)

    async def astats(self) -> dict[str, dict[str, int]]:
        return await sync_to_async(self.stats)()

    # -- internals -----------------------------------------------------------------

    def _unique_jobs_kept(self, values: dict[str, Any]) -> dict[str, Any]:
        """``values`` for jobs without a unique key; the others keep their values."""
        return {
            name: Case(
                When(unique_key__isnull=True, then=_as_expression(value, self.model._meta.get_field(name))),
                default=F(name),
            )
            for name, value in values.items()
        }

    def _delete_rows(self) -> int:
        """``DELETE`` every row of this set in one statement, no signals; returns the row count."""
        deletable = self.order_by()
        with transaction.mark_for_rollback_on_error(using=deletable.db):
            # Django answers None, not 0, for a query it knows matches nothing (``pk__in=[]``).
            count: int = deletable._raw_delete(deletable.db) or 0
        return count

    def _write(self, values: dict[str, Any]) -> int:
        """``UPDATE`` every row of this set; returns the row count."""
        count: int = self.order_by().update(**values)
        return count


def _rekeys(update: Update) -> bool:
    """Whether ``update`` changes a field a unique job's key may be made of."""
    return any(name in UNIQUE_FIELDS for name in (*update.values, *update.merges))


def _as_expression(value: Any, field: Any) -> Any:
    return value if hasattr(value, "resolve_expression") else Value(value, output_field=field)
