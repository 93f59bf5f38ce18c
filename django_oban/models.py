"""The ``Job`` model: one row of ``oban_jobs`` per job."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Collection
from typing import Any

from asgiref.sync import sync_to_async
from django.core import validators
from django.db import IntegrityError, models, router, transaction
from django.db.models.base import ModelState
from django.db.models.signals import post_init, post_save, pre_init, pre_save
from django.utils import timezone

from .changes import state_after_rescheduling
from .compat import check_constraint
from .conditions import is_postgresql
from .exceptions import DuplicateJobError, JobExecutingError
from .operations import DELETE
from .querysets import Changes, JobQuerySet
from .records import NEW_RECORD_CONTENTS, clean_record, is_clean_new_record
from .signals import send_enqueued
from .states import FINISHED_STATES, JobState
from .tracing import with_trace_context
from .unique import insert_skipping_duplicates, is_unique_violation, refuse_duplicate, unique_columns
from .updates import max_attempts_error

#: ``Job.objects``: every ``JobQuerySet`` method, typed as such for mypy's Django plugin.
JobManager = models.Manager.from_queryset(JobQuerySet)

_NOT_BLANK = r"\S"
#: Fields ``clean()`` checks itself (Django's ``JSONField`` check recurses and can overflow).
_JSON_FIELDS = ("args", "meta", "tags", "errors", "attempted_by", "unique")


class Job(models.Model):
    """A background job: what to run (``worker`` with ``args``), where and when."""

    id = models.BigAutoField(primary_key=True)
    state = models.TextField(choices=JobState.choices, default=JobState.AVAILABLE)
    queue = models.TextField(default="default")
    worker = models.TextField(help_text="Dotted path of the worker class.")
    args = models.JSONField(default=dict, blank=True)
    meta = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=list, blank=True)
    errors = models.JSONField(default=list, blank=True)
    attempt = models.IntegerField(default=0, validators=[validators.MinValueValidator(0)])
    max_attempts = models.IntegerField(default=20, validators=[validators.MinValueValidator(1)])
    priority = models.SmallIntegerField(
        default=0,
        validators=[validators.MinValueValidator(0), validators.MaxValueValidator(9)],
        help_text="0 (highest) to 9 (lowest).",
    )
    attempted_by = models.JSONField(default=list, blank=True)
    inserted_at = models.DateTimeField(default=timezone.now)
    scheduled_at = models.DateTimeField(default=timezone.now)
    attempted_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    discarded_at = models.DateTimeField(null=True, blank=True)
    # Unique jobs (see ``unique.py``): the options, and the key and states the unique index reads.
    unique = models.JSONField(null=True, blank=True, editable=False)
    unique_key = models.TextField(null=True, blank=True, editable=False)  # noqa: DJ001 (NULL: not unique, outside the index)
    unique_states = models.IntegerField(null=True, blank=True, editable=False)

    objects = JobManager()

    #: Set on a unique job that was not inserted because it duplicates this (existing) job.
    conflict = False

    class Meta:
        db_table = "oban_jobs"
        verbose_name = "job"
        verbose_name_plural = "jobs"
        permissions = [
            ("cancel_job", "Can cancel job"),
            ("retry_job", "Can retry job"),
            ("control_queue", "Can pause, resume and scale queues"),
        ]
        constraints = [
            check_constraint(models.Q(state__in=JobState.values), "oban_jobs_state_valid"),
            check_constraint(models.Q(priority__gte=0, priority__lte=9), "oban_jobs_priority_range"),
            check_constraint(models.Q(max_attempts__gt=0), "oban_jobs_max_attempts_positive"),
            check_constraint(
                models.Q(attempt__gte=0, attempt__lte=models.F("max_attempts")), "oban_jobs_attempt_range"
            ),
            check_constraint(models.Q(queue__regex=_NOT_BLANK), "oban_jobs_queue_not_blank"),
            check_constraint(models.Q(worker__regex=_NOT_BLANK), "oban_jobs_worker_not_blank"),
        ]
        indexes = [
            # The fetch query: available jobs of a queue in (priority, scheduled_at, id) order.
            models.Index(
                fields=["queue", "priority", "scheduled_at", "id"],
                condition=models.Q(state=JobState.AVAILABLE),
                name="oban_jobs_fetch",
            ),
            # Staging: scheduled and retryable jobs that have come due.
            models.Index(
                fields=["scheduled_at", "id"],
                condition=models.Q(state__in=[JobState.SCHEDULED, JobState.RETRYABLE]),
                name="oban_jobs_staging",
            ),
            # Pruning finished jobs by the time they finished.
            models.Index(
                fields=["completed_at"], condition=models.Q(state=JobState.COMPLETED), name="oban_jobs_prune_completed"
            ),
            models.Index(
                fields=["cancelled_at"], condition=models.Q(state=JobState.CANCELLED), name="oban_jobs_prune_cancelled"
            ),
            models.Index(
                fields=["discarded_at"], condition=models.Q(state=JobState.DISCARDED), name="oban_jobs_prune_discarded"
            ),
            # Counts by state and queue, rescue of executing jobs, the admin's state counts and
            # its list of queues (a skip scan over the index).
            models.Index(fields=["state", "queue"], name="oban_jobs_state_queue"),
            # The admin: its list of workers (a skip scan) and filtering or searching by worker.
            # (Searching by tag uses a PostgreSQL-only GIN index made by migration 0003.)
            models.Index(fields=["worker"], name="oban_jobs_worker"),
        ]

    def __str__(self) -> str:
        return f"{self.worker} #{self.pk} ({self.state})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Validate (``clean()``) and save; a new job in the future is saved as scheduled.

        A new unique job that duplicates one becomes that job, with ``conflict = True``.
        Saving an existing job into a duplicate raises ``DuplicateJobError``, saving nothing.
        A new job sends ``job_enqueued`` once inserted.
        """
        adding = self._state.adding
        if adding:
            self.prepare_for_insert()
        else:
            self.clean()
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        if self.unique_key is None:
            if adding and self.pk is None and not args and kwargs.keys() <= {"using"} and is_postgresql(using):
                self._insert(using)
            else:
                super().save(*args, **kwargs)
            if adding:
                send_enqueued([self])
            return
        if adding:
            insert_skipping_duplicates([self], using)
            send_enqueued([self])
            return
        try:
            with transaction.atomic(using=using):
                super().save(*args, **kwargs)
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            raise DuplicateJobError(f"Job {self.pk} would duplicate a unique job; nothing was saved.") from exc

    def _insert(self, using: str) -> None:
        """What ``Model.save()`` does for a new row, ``pre_save`` and ``post_save`` included, in
        the one statement ``insert_all`` uses: less SQL building per job than Django's save."""
        pre_save.send(sender=type(self), instance=self, raw=False, using=using, update_fields=None)
        Job.objects.db_manager(using).insert_prepared([self])
        post_save.send(sender=type(self), instance=self, created=True, update_fields=None, raw=False, using=using)

    @classmethod
    def unsaved(cls, **values: Any) -> Job:
        """A new job of ``values`` (by field attribute name), the other fields at their defaults.

        The very instance ``Job(**values)`` builds, ``pre_init`` and ``post_init`` sent, without
        Django's field by field loop: ``Worker.new()`` makes one per job enqueued.
        """
        names, constants, factories = _defaults(cls)
        if not values.keys() <= names:
            unknown = ", ".join(sorted(values.keys() - names))
            raise TypeError(f"{cls.__name__}.unsaved() got names that are no field: {unknown}")
        pre_init.send(sender=cls, args=(), kwargs=values)
        job = cls.__new__(cls)
        fields = job.__dict__
        fields["_state"] = ModelState()
        fields.update(constants)
        for name, factory in factories:
            if name not in values:
                fields[name] = factory()
        fields.update(values)
        post_init.send(sender=cls, instance=job)
        return job

    # Set by the worker runtime while this job runs; see ``cancelled()``.
    _cancel_event: threading.Event | None = None

    @property
    def is_finished(self) -> bool:
        return self.state in FINISHED_STATES

    def cancelled(self) -> bool:
        """Whether this job has been cancelled.

        Inside ``Worker.process`` this turns true soon after the job is cancelled from
        anywhere: the worker listens for cancel notifications and sets an in-memory flag,
        so calling it costs no database query.
        """
        event = self._cancel_event
        return self.state == JobState.CANCELLED or (event is not None and event.is_set())

    def clean(self) -> None:
        """Validate and normalise every field: the updatable ones with the rules every update
        follows (``changes.py``), the others with ``records.py``'s; ``ValidationError`` by field."""
        if is_clean_new_record(self.__dict__):
            names = [name for name in NEW_RECORD_CONTENTS if self.__dict__[name]]
        else:
            names = [field.attname for field in self._meta.concrete_fields]
        if names:
            for name, value in clean_record({name: getattr(self, name) for name in names}).items():
                setattr(self, name, value)
        self.unique_key, self.unique_states = unique_columns(self)
        if self.attempt > self.max_attempts:
            raise max_attempts_error([self.pk] if self.pk is not None else [])

    def clean_fields(self, exclude: Collection[str] | None = None) -> None:
        """Django's field checks, but for the JSON fields: ``clean()`` checks those without recursion."""
        super().clean_fields(exclude={*(exclude or ()), *_JSON_FIELDS})

    def prepare_for_insert(self) -> None:
        """Validate and normalise a new job; a future ``scheduled_at`` makes it scheduled.

        With OpenTelemetry, the current trace context is stored in ``meta["otel"]`` (``tracing``).
        """
        self.clean()
        self.meta = with_trace_context(self.meta)
        self.state = state_after_rescheduling(self.state, self.scheduled_at, timezone.now())

    def delete(self, using: str | None = None, keep_parents: bool = False) -> tuple[int, dict[str, int]]:
        """Delete this job; raises ``JobExecutingError`` (deleting nothing) if it is executing."""
        deleted = self._as_set(using).delete()
        if deleted[0] == 0 and self._as_set(using).skipped_by(DELETE):
            raise JobExecutingError(f"Job {self.pk} is executing; cancel it before deleting it.")
        self.pk = None
        return deleted

    def cancel(self) -> None:
        """Cancel this job if it is incomplete, executing included; refreshed when it was."""
        for row in self._as_set().cancel_returning():
            self.copy_from(row)

    def retry(self) -> None:
        """Make this job available now unless available or executing; refreshed when it was.

        Raises ``DuplicateJobError`` (changing nothing) if it is unique and would duplicate a job.
        """
        if self.unique_key is not None:  # a job inserted without unique options never duplicates
            refuse_duplicate(self._as_set().retry_duplicates())
        for row in self._as_set().retry_returning():
            self.copy_from(row)

    def update(self, changes: Changes) -> Job:
        """Apply ``changes`` to this job (see ``JobQuerySet.update_many``) and return it refreshed.

        Raises ``ValidationError`` (changing nothing) for invalid changes, ``DuplicateJobError``
        if this unique job would duplicate one, ``Job.DoesNotExist`` if the job is gone.
        """
        rows = self._as_set().update_many(changes)
        if not rows:
            raise Job.DoesNotExist(f"No job with id {self.pk}.")
        if rows[0].conflict:
            raise DuplicateJobError(f"Job {self.pk} would duplicate a unique job; it was not updated.")
        self.copy_from(rows[0])
        return self

    async def acancel(self) -> None:
        await sync_to_async(self.cancel)()

    async def aretry(self) -> None:
        await sync_to_async(self.retry)()

    async def aupdate(self, changes: Changes) -> Job:
        return await sync_to_async(self.update)(changes)

    def copy_from(self, row: Job) -> None:
        """Take every field value of ``row``, the same job as read from the database."""
        for field in self._meta.concrete_fields:
            setattr(self, field.attname, getattr(row, field.attname))

    def _as_set(self, using: str | None = None) -> JobQuerySet:
        """This job as a one-row ``JobQuerySet``, where every operation's rule lives."""
        if self.pk is None:
            raise ValueError("An unsaved Job has no id; save it first.")
        return type(self)._default_manager.db_manager(using or self._state.db).filter(pk=self.pk)


@functools.cache
def _defaults(model: type[Job]) -> tuple[frozenset[str], dict[str, Any], list[tuple[str, Callable[[], Any]]]]:
    """The attribute names of ``model``'s fields, and their defaults as ``Model.__init__`` takes
    them: the constant ones by name, and the callables that make each of the others afresh."""
    constants: dict[str, Any] = {}
    factories: list[tuple[str, Callable[[], Any]]] = []
    for field in model._meta.concrete_fields:
        if field.has_default() and callable(field.default):
            factories.append((field.attname, field.default))
        else:
            constants[field.attname] = field.get_default()
    return frozenset(field.attname for field in model._meta.concrete_fields), constants, factories


class Node(models.Model):
    """One run of a worker node: a process from start to exit, and its last heartbeat.

    A process that restarts under the same ``name`` is a new run with a row of its own.
    An executing job belongs to the latest run of its node (``attempted_by[-1]``) started at
    or before the job's ``attempted_at``; it is orphaned (and rescued) once that run has no
    row or a heartbeat older than ``RESCUE_AFTER``. On PostgreSQL both timestamps are written
    with the database's clock, the one rescue compares them with.
    """

    id = models.BigAutoField(primary_key=True)
    name = models.TextField()
    started_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(default=timezone.now)
    #: How the run runs its queues, as of its last heartbeat or queue control change:
    #: ``{queue: {"limit": int, "paused": bool, "running": int}}``.
    queues = models.JSONField(default=dict)

    class Meta:
        db_table = "oban_nodes"
        verbose_name = "node"
        verbose_name_plural = "nodes"
        # Rescue looks up the latest run of a name started before a job's attempt.
        indexes = [models.Index(fields=["name", "started_at"], name="oban_nodes_name_started")]

    def __str__(self) -> str:
        return self.name


class QueueControl(models.Model):
    """An operator's setting for a queue on every node (``node == ""``) or on one node.

    ``paused`` and ``limit`` are ``None`` where this row does not set them. Written by
    ``pause_queue``, ``resume_queue`` and ``scale_queue``; see ``django_oban.queues``.
    """

    id = models.BigAutoField(primary_key=True)
    queue = models.TextField()
    node = models.TextField(blank=True, default="")
    paused = models.BooleanField(null=True)
    limit = models.IntegerField(null=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "oban_queue_controls"
        verbose_name = "queue control"
        verbose_name_plural = "queue controls"
        constraints = [
            models.UniqueConstraint(fields=["queue", "node"], name="oban_queue_controls_queue_node"),
            check_constraint(models.Q(limit__gte=1), "oban_queue_controls_limit_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.queue} on {self.node or 'every node'}"
