"""Unique jobs: the options, the key standing for a job's identity, and the insert that skips duplicates.

A unique job stores its cleaned options in ``Job.unique``, a hash of what identifies it in
``unique_key`` (the fields and keys compared, plus the period's time bucket) and the states in
which it counts as a bitmask in ``unique_states``. The database enforces the rule with one
partial unique index (migration 0007)::

    UNIQUE (unique_key) WHERE unique_key IS NOT NULL AND unique_states & <bit of state> > 0

so a job counts exactly while its current state is one of its own ``states``: every statement
that changes ``state`` (the worker's included) moves the row into or out of the index by
itself, with no trigger or column to keep in sync. ``states`` must hold every incomplete state,
because the worker moves jobs between those by itself (staging, snoozing, rescuing) and such a
move must never meet a duplicate; finished states may be added.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, models, transaction
from django.db.models import Exists, F, Func, OuterRef, Q, Window
from django.db.models.functions import RowNumber
from django.db.models.sql import InsertQuery
from django.utils import timezone

from .changes import state_after_rescheduling
from .exceptions import DuplicateJobError
from .states import INCOMPLETE_STATES, JobState
from .updates import Update, max_attempts_error

_Jobs = TypeVar("_Jobs", bound=models.QuerySet[Any])

#: What ``fields`` may name, and the default.
FIELDS: tuple[str, ...] = ("worker", "queue", "args", "meta")
DEFAULT_FIELDS: tuple[str, ...] = ("worker", "queue", "args")
OPTIONS: tuple[str, ...] = ("period", "fields", "keys", "states")
#: The longest ``period``: a century, in seconds.
MAX_PERIOD = 100 * 365 * 24 * 3600
#: Each state's bit in ``unique_states`` (the partial unique index spells the same numbers).
STATE_BITS: dict[str, int] = {state: 1 << index for index, state in enumerate(JobState.values)}
#: The name of the unique index, as an ``IntegrityError`` names it.
UNIQUE_INDEX = "oban_jobs_unique"
#: How many times an insert is retried when a duplicate it met left its states before it was read.
INSERT_ROUNDS = 5


def clean_unique(value: Any) -> dict[str, Any] | None:
    """``None``, or the options as stored: every option present, in a canonical order.

    ``ValueError`` naming the option for anything else (a message that follows "unique ").
    """
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f"must be a dict of options ({', '.join(OPTIONS)}) or None, not {type(value).__name__}")
    unknown = [str(key) for key in value if key not in OPTIONS]
    if unknown:
        raise ValueError(f"has no option {', '.join(map(repr, unknown))}; the options are {', '.join(OPTIONS)}")
    fields = _clean_fields(value.get("fields", DEFAULT_FIELDS))
    keys = _clean_keys(value.get("keys"), fields)
    return {
        "period": _clean_period(value.get("period")),
        "fields": fields,
        "keys": keys,
        "states": _clean_states(value.get("states", INCOMPLETE_STATES)),
    }


def unique_option(value: Any) -> dict[str, Any] | None:
    """``clean_unique`` for ``Worker.new()``: ``TypeError`` if not a dict, ``ValidationError`` naming the option."""
    if value is not None and not isinstance(value, Mapping):
        raise TypeError(f"unique must be a dict of options ({', '.join(OPTIONS)}) or None, not {type(value).__name__}.")
    try:
        return clean_unique(value)
    except ValueError as exc:
        raise ValidationError({"unique": [f"unique {exc}."]}) from None


def _clean_period(value: Any) -> int | None:
    if isinstance(value, timedelta):
        value = value.total_seconds()
        value = int(value) if value == int(value) else value
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PERIOD:
        raise ValueError(f"period must be whole seconds from 1 to {MAX_PERIOD} (or None: no period), not {value!r}")
    return value


def _clean_fields(value: Any) -> list[str]:
    names = _names(value, "fields")
    wrong = [name for name in names if name not in FIELDS]
    if wrong or not names:
        raise ValueError(f"fields must be a non-empty list of {', '.join(FIELDS)}, not {value!r}")
    return [name for name in FIELDS if name in names]


def _clean_keys(value: Any, fields: list[str]) -> list[str] | None:
    if value is None:
        return None
    keys = _names(value, "keys")
    if "args" not in fields and "meta" not in fields:
        raise ValueError("keys restrict the comparison of args and meta, but fields holds neither")
    return sorted(set(keys))


def _clean_states(value: Any) -> list[str]:
    states = _names(value, "states")
    wrong = [state for state in states if state not in JobState.values]
    if wrong:
        raise ValueError(f"states must be job states ({', '.join(JobState.values)}), not {', '.join(map(repr, wrong))}")
    missing = [state for state in INCOMPLETE_STATES if state not in states]
    if missing:
        raise ValueError(
            f"states must include every incomplete state ({', '.join(INCOMPLETE_STATES)}), "
            f"as the worker moves jobs between them; missing: {', '.join(missing)}"
        )
    return [state for state in JobState.values if state in states]


def _names(value: Any, option: str) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValueError(f"{option} must be a list of strings, not {value!r}")
    names = list(value)
    if not all(isinstance(name, str) for name in names):
        raise ValueError(f"{option} must be a list of strings, not {names!r}")
    return names


def unique_columns(job: Any) -> tuple[str | None, int | None]:
    """``(unique_key, unique_states)`` for ``job`` (cleaned), or ``(None, None)`` if it is not unique."""
    options = job.unique
    if options is None:
        return None, None
    identity: dict[str, Any] = {}
    keys = options["keys"]
    for name in options["fields"]:
        value = getattr(job, name)
        if keys is not None and name in ("args", "meta"):
            value = {key: value[key] for key in keys if key in value}
        identity[name] = value
    period = options["period"]
    if period is not None:
        identity["period"] = [period, math.floor(job.inserted_at.timestamp() / period)]
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    key = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
    return key, sum(STATE_BITS[state] for state in options["states"])


def counting(jobs: _Jobs) -> _Jobs:
    """The jobs of ``jobs`` that count as duplicates now: unique ones in one of their own states."""
    found: _Jobs = jobs.alias(unique_counting=state_bit_of(F("unique_states"), "state")).filter(unique_counting__gt=0)
    return found


class StateBit(Func):
    """``CASE WHEN state = 'available' THEN 1 … ELSE 0 END``: the bit of a job's state.

    Written as one template, the very expression of the unique index's predicate (so the
    planner can prove a query matches that partial index), and cheap to build: a
    ``Case`` of ``When`` objects costs the ORM milliseconds to resolve and compile per query.
    """

    template = (
        "CASE "
        + " ".join(f"WHEN %(expressions)s = '{state}' THEN {bit}" for state, bit in STATE_BITS.items())
        + " ELSE 0 END"
    )
    output_field = models.IntegerField()


def state_bit_of(states: Any, state_field: str) -> Any:
    """``states & <bit of state_field>``: positive when that state is among the bitmask ``states``."""
    return states.bitand(StateBit(F(state_field)))


def is_unique_violation(exc: Exception) -> bool:
    """Whether a database error is the unique index refusing a duplicate."""
    return UNIQUE_INDEX in str(exc) or "oban_jobs.unique_key" in str(exc)


def insert_skipping_duplicates(jobs: list[Any], using: str) -> None:
    """Insert unique ``jobs`` (prepared, each with a ``unique_key``), skipping duplicates.

    ``INSERT … ON CONFLICT DO NOTHING RETURNING``: the jobs inserted get their ids; a job whose
    key is held by a job that counts (in the table, or earlier in ``jobs``) becomes that job,
    with ``conflict = True``.
    """
    pending = list(jobs)
    for _ in range(INSERT_ROUNDS):
        inserted = _insert_returning_keys(pending, using)
        waiting: dict[str, list[Any]] = {}
        for job in pending:
            pk = inserted.pop(job.unique_key, None)
            if pk is None:
                waiting.setdefault(job.unique_key, []).append(job)
            else:
                job.pk = pk
                job._state.adding = False
                job._state.db = using
        model = type(pending[0])
        existing = counting(model._default_manager.db_manager(using).filter(unique_key__in=list(waiting)))
        for row in existing:
            for job in waiting.pop(row.unique_key, ()):
                job.copy_from(row)
                job.conflict = True
                job._state.adding = False
                job._state.db = using
        pending = [job for same in waiting.values() for job in same]
        if not pending:
            return
    raise RuntimeError(f"Could not insert or find the unique jobs with keys {sorted(waiting)}; try again.")


def _insert_returning_keys(jobs: list[Any], using: str) -> dict[str, int]:
    """Insert ``jobs`` with ``ON CONFLICT DO NOTHING``; ``{unique_key: id}`` of the rows inserted."""
    connection = connections[using]
    meta = jobs[0]._meta
    fields = [field for field in meta.concrete_fields if field is not meta.pk]
    returning = [meta.pk, meta.get_field("unique_key")]
    inserted: dict[str, int] = {}
    batch = max(connection.ops.bulk_batch_size(fields, jobs), 1)
    with connection.cursor() as cursor:
        for start in range(0, len(jobs), batch):
            query = InsertQuery(jobs[0].__class__)
            query.insert_values(fields, jobs[start : start + batch])
            compiler = query.get_compiler(using)
            compiler.returning_fields = returning
            [(sql, params)] = compiler.as_sql()
            head, columns = sql.rsplit(" RETURNING ", 1)
            cursor.execute(f"{head} ON CONFLICT DO NOTHING RETURNING {columns}", params)
            inserted.update((key, pk) for pk, key in cursor.fetchall())
    return inserted


def entering_duplicates(jobs: _Jobs) -> _Jobs:
    """The jobs of ``jobs`` that would duplicate a unique job if all of ``jobs`` began to count.

    For an operation making ``jobs`` available (retry): a job that does not count now is a
    duplicate if a job with its key counts, or if a job of ``jobs`` with its key and a lower id
    does not count either (the first of those is the one that enters).

    The second rule is a rank within each key, not a correlated ``EXISTS``: PostgreSQL then
    looks for counting jobs only among the few unique candidates, and estimates the statement
    as cheap as the work is, where the ``EXISTS`` it priced for every row of a large set made
    it compile the statement with JIT (0.6 s of a 100,000-job retry).
    """
    others = jobs.model._default_manager.db_manager(jobs.db).filter(unique_key=OuterRef("unique_key"))
    ranked = _not_counting(jobs.filter(unique_key__isnull=False)).alias(
        unique_rank=Window(RowNumber(), partition_by=F("unique_key"), order_by=F("pk").asc())
    )
    found: _Jobs = ranked.filter(Q(unique_rank__gt=1) | Exists(counting(others)))
    return found


def refuse_duplicate(duplicates: models.QuerySet[Any]) -> None:
    """Raise ``DuplicateJobError`` naming the first of ``duplicates``, if there is one."""
    pk = duplicates.order_by("pk").values_list("pk", flat=True).first()
    if pk is not None:
        raise DuplicateJobError(f"Job {pk} would duplicate a unique job that counts; it was not changed.")


def _not_counting(jobs: _Jobs) -> _Jobs:
    found: _Jobs = jobs.alias(unique_counting=state_bit_of(F("unique_states"), "state")).filter(unique_counting=0)
    return found


def update_unique_jobs(jobs: models.QuerySet[Any], update: Update) -> list[Any]:
    """Write ``update`` to ``jobs`` (unique ones) one by one under row locks; return them by id.

    Each job's key is computed again from its new values; a job whose new key duplicates a
    job that counts keeps its values and comes back with ``conflict = True``. A max_attempts
    below a job's attempts is a ``ValidationError`` before any write.
    """
    manager = jobs.model._default_manager.db_manager(jobs.db)
    with transaction.atomic(using=jobs.db):
        locked = list(jobs.select_for_update().order_by("pk"))
        plans = [(job, update.for_job(job)) for job in locked]
        too_low = [job.pk for job, values in plans if values.get("max_attempts", job.max_attempts) < job.attempt]
        if too_low:
            raise max_attempts_error(too_low)
        now = timezone.now()
        for job, values in plans:
            for name, value in values.items():
                setattr(job, name, value)
            if "scheduled_at" in values:
                values["state"] = job.state = state_after_rescheduling(job.state, job.scheduled_at, now)
            values["unique_key"], values["unique_states"] = job.unique_key, job.unique_states = unique_columns(job)
            try:
                with transaction.atomic(using=jobs.db):
                    manager.filter(pk=job.pk).update(**values)
            except IntegrityError as exc:
                if not is_unique_violation(exc):
                    raise
                job.refresh_from_db()
                job.conflict = True
    return locked
