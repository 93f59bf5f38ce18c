"""The ``Worker`` base class, how jobs are created from it, and ``process`` outcomes."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from numbers import Real
from types import EllipsisType
from typing import TYPE_CHECKING, Any, ClassVar

from asgiref.sync import sync_to_async
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import transaction
from django.utils import timezone

from .changes import clean_schedule_in, clean_scheduled_at
from .conf import oban_settings
from .states import JobState
from .unique import unique_option

if TYPE_CHECKING:
    from .models import Job

#: Longest delay the default ``backoff`` returns, in seconds.
MAX_BACKOFF = 24 * 3600
#: Longest delay of a ``Snooze`` or of any ``backoff``, in seconds (a year); a custom
#: ``backoff`` returning more is held to it.
MAX_DELAY = 365 * 24 * 3600


@dataclass(frozen=True)
class Cancel:
    """Return from ``process`` to cancel the job; ``reason`` is recorded in ``errors``."""

    reason: str = "cancelled"


@dataclass(frozen=True)
class Snooze:
    """Return from ``process`` to run the job again in ``seconds``, without using up an attempt.

    ``seconds`` is a finite number up to ``MAX_DELAY``; 0 or less runs the job again at once.
    Anything else raises ``TypeError`` or ``ValueError`` here, failing the attempt.
    """

    seconds: float

    def __post_init__(self) -> None:
        if isinstance(self.seconds, bool) or not isinstance(self.seconds, Real):
            raise TypeError(f"Snooze seconds must be a number, not {type(self.seconds).__name__}: {self.seconds!r}")
        if not (math.isfinite(self.seconds) and self.seconds <= MAX_DELAY):
            raise ValueError(f"Snooze seconds must be finite and at most {MAX_DELAY} (a year), not {self.seconds!r}")


@dataclass(frozen=True)
class Record:
    """Return from ``process`` to complete the job with ``value`` stored in ``meta["recorded"]``.

    ``value`` must be JSON (no NaN or Infinity); otherwise the attempt fails with
    ``UnstorableRecord``. NUL characters and lone surrogates in its strings are stored as U+FFFD.
    """

    value: Any


class Worker:
    """Base class of job workers.

    Class attributes are the defaults of new jobs; ``new()`` and ``enqueue()`` override them
    per job. Subclasses implement ``process(job)``, plain or ``async def``.
    """

    queue: ClassVar[str] = "default"
    priority: ClassVar[int] = 0
    max_attempts: ClassVar[int] = 20
    tags: ClassVar[Sequence[str]] = ()
    #: Unique job options (``period``, ``fields``, ``keys``, ``states``; see docs/unique-jobs.md),
    #: or ``None``: jobs of this worker are not unique.
    unique: ClassVar[Mapping[str, Any] | None] = None

    @classmethod
    def path(cls) -> str:
        """The dotted path stored in ``Job.worker``."""
        return f"{cls.__module__}.{cls.__qualname__}"

    @classmethod
    def new(
        cls,
        args: dict[str, Any] | None = None,
        *,
        queue: str | None = None,
        priority: int | None = None,
        max_attempts: int | None = None,
        tags: Sequence[str] | None = None,
        meta: dict[str, Any] | None = None,
        scheduled_at: datetime | None = None,
        schedule_in: float | timedelta | None = None,
        unique: Mapping[str, Any] | EllipsisType | None = ...,
    ) -> Job:
        """An unsaved job for this worker; validated when saved or passed to ``insert_all``.

        ``scheduled_at``, ``schedule_in`` and ``unique`` are checked here: a ``ValidationError``
        names the one that is invalid (a naive ``scheduled_at`` is read in the current time
        zone). ``unique`` overrides the worker's ``unique`` options; ``None`` switches them off.
        """
        from .models import Job

        if scheduled_at is not None and schedule_in is not None:
            raise ValidationError({"schedule_in": ["Give scheduled_at or schedule_in, not both."]})
        now = timezone.now()
        try:
            if schedule_in is not None:
                scheduled_at = clean_schedule_in(schedule_in, now)
            elif scheduled_at is not None:
                scheduled_at = clean_scheduled_at(scheduled_at)
        except ValueError as exc:
            field = "schedule_in" if schedule_in is not None else "scheduled_at"
            raise ValidationError({field: [f"{field} {exc}."]}) from None
        return Job.unsaved(
            state=JobState.AVAILABLE.value,  # the default, as the plain string saving stores
            worker=cls.path(),
            args={} if args is None else args,
            queue=cls.queue if queue is None else queue,
            priority=cls.priority if priority is None else priority,
            max_attempts=cls.max_attempts if max_attempts is None else max_attempts,
            tags=list(cls.tags) if tags is None else tags,
            meta={} if meta is None else meta,
            inserted_at=now,
            scheduled_at=scheduled_at or now,
            unique=unique_option(cls.unique if unique is ... else unique),
        )

    @classmethod
    def enqueue(cls, args: dict[str, Any] | None = None, **options: Any) -> Job:
        """Insert a job for this worker and return it. Takes the options of ``new()``.

        With ``OBAN["TESTING"] = "inline"`` the job also runs, in this thread, once the
        surrounding transaction commits (at once outside one); ``job`` is refreshed then.
        """
        job = cls.new(args, **options)
        job.save()
        run_if_inline(job)
        return job

    @classmethod
    async def aenqueue(cls, args: dict[str, Any] | None = None, **options: Any) -> Job:
        """Async version of ``enqueue()``."""
        return await sync_to_async(cls.enqueue)(args, **options)

    def process(self, job: Job) -> Any:
        """Run the job. Return ``Cancel``, ``Snooze`` or ``Record`` to steer the outcome."""
        raise NotImplementedError(f"{type(self).__qualname__} must implement process(job).")

    def backoff(self, job: Job) -> int:
        """Seconds to wait before retrying a failed attempt: exponential, jittered, clamped.

        An override may return any finite number (negative counts as 0, more than
        ``MAX_DELAY`` as ``MAX_DELAY``). If it raises or returns something else, this
        default is used and the problem is noted in the attempt's error.
        """
        base = min(15 + 2 ** min(job.attempt, 20), MAX_BACKOFF)
        return int(base * random.uniform(0.9, 1.1))

    def timeout(self, job: Job) -> float | None:
        """Seconds an attempt may run before it fails with ``JobTimeout``, or ``None`` for no limit.

        A positive, finite number or ``None``; anything else (or raising) fails the attempt.
        """
        return None


@dataclass
class Extensions:
    """What the layers built on this module plug in when the app is ready (``django_oban.apps``).

    The runtime and the Tasks backend import this module, so it reaches them only through here.
    """

    #: Runs a job here and now and writes its outcome (the runtime's ``run_inline``).
    inline_runner: Callable[[Job], object] | None = None
    #: Each takes what a job's ``worker`` path imports as, when that is not a ``Worker``
    #: subclass, and returns the ``Worker`` class that runs the job, or ``None`` (the Tasks
    #: backend's finds ``TaskWorker`` for a Django task).
    worker_finders: list[Callable[[Any], type[Worker] | None]] = field(default_factory=list)


extensions = Extensions()


def find_worker(value: Any) -> type[Worker] | None:
    """The ``Worker`` class that runs jobs whose ``worker`` path imports as ``value`` (not a
    ``Worker`` itself), as the first of ``extensions.worker_finders`` that knows it says."""
    for finder in extensions.worker_finders:
        worker = finder(value)
        if worker is not None:
            return worker
    return None


def run_if_inline(job: Job, then: Callable[[], object] | None = None) -> None:
    """With ``OBAN["TESTING"] = "inline"``, run the just-inserted ``job`` in this thread once the
    current transaction commits (at once outside one), then call ``then``; else do nothing."""
    if oban_settings.TESTING != "inline":
        return
    run = extensions.inline_runner
    if run is None:
        raise ImproperlyConfigured("OBAN['TESTING'] = 'inline' needs 'django_oban' in INSTALLED_APPS.")

    def run_job() -> None:
        run(job)
        if then is not None:
            then()

    transaction.on_commit(run_job)
