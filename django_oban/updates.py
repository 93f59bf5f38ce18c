"""``Update``: one validated change of jobs, built by every surface and written by ``JobQuerySet``.

The API's dicts, the admin's update form and ``oban_update``'s flags all become an
``Update``; ``JobQuerySet.update_many()`` (returns the rows) and ``apply_update()`` (returns
a count) write it, in one ``UPDATE`` on PostgreSQL whatever the mix of changes::

    from django_oban.updates import Add, Merge, Update

    update = Update.from_changes({"priority": 0, "meta": Merge({"batch": 7}), "tags": Add(["urgent"])})
    Job.objects.filter(queue="mailers").apply_update(update)        # -> int
    Job.objects.filter(queue="mailers").update_many({"tags": Add(["urgent"])})   # -> list[Job]

A plain value *replaces* the field. ``Merge(dict)`` *merges* a dict into ``meta`` (or
``args``): its keys are set, the job's other keys kept (a shallow merge, like
``{**job.meta, **new}``). ``Add(tags)`` *adds* tags to the ones each job has. Everything is
validated in ``from_changes``, all or nothing, with ``ValidationError`` keyed by field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Case, F, Func, Value, When
from django.db.models.functions import Cast

from .changes import clean_changes, clean_json_object, normalize_tags, state_after_rescheduling
from .states import JobState

#: Fields a ``Merge`` applies to (JSON objects), and the field ``Add`` applies to.
MERGEABLE_FIELDS: tuple[str, ...] = ("args", "meta")
ADDABLE_FIELD = "tags"
#: How many job ids an error about max_attempts names before "…".
LISTED_IDS = 10

# The union of a job's tags and new ones, de-duplicated and sorted by code point like
# ``normalize_tags`` (the "C" collation), as one expression of a set-based UPDATE.
_TAG_UNION = (
    "(SELECT COALESCE(jsonb_agg(tag ORDER BY tag COLLATE \"C\"), '[]'::jsonb) "
    "FROM (SELECT DISTINCT jsonb_array_elements_text(%(expressions)s) AS tag) AS oban_tags)"
)


@dataclass(frozen=True)
class Merge:
    """A dict merged into ``meta`` (or ``args``) instead of replacing it: ``{"meta": Merge({"k": 1})}``."""

    value: Any


@dataclass(frozen=True)
class Add:
    """Tags added to each job's own instead of replacing them: ``{"tags": Add(["urgent"])}``."""

    tags: Any


def max_attempts_error(job_ids: Iterable[int] = ()) -> ValidationError:
    """The one error for a ``max_attempts`` below the attempts a job already made (naming the jobs)."""
    ids = list(job_ids)
    named = ", ".join(map(str, ids[:LISTED_IDS])) + (", …" if len(ids) > LISTED_IDS else "")
    by = f" by job {named}" if ids else ""
    return ValidationError({"max_attempts": [f"max_attempts cannot be lower than the attempts already made{by}."]})


@dataclass(frozen=True)
class Update:
    """Validated changes of jobs: fields replaced, dicts merged into JSON fields, tags added.

    Build it with ``from_changes``; the constructor trusts its values to be clean.
    """

    #: Fields written as given, cleaned (``schedule_in`` already turned into ``scheduled_at``).
    values: Mapping[str, Any] = field(default_factory=dict)
    #: Dicts merged into the JSON object of each field (``args``, ``meta``).
    merges: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Tags added to each job's tags, normalised.
    add_tags: tuple[str, ...] = ()

    @classmethod
    def from_changes(cls, changes: Any, now: datetime | None = None) -> Update:
        """Validate ``changes`` (a dict of field -> value, ``Merge`` or ``Add``); all or nothing.

        Raises ``ValidationError`` keyed by every offending field. An ``Update`` is returned as is.
        """
        if isinstance(changes, Update):
            return changes
        if not isinstance(changes, Mapping):
            return cls(clean_changes(changes, now))  # raises the error for a non-dict
        plain = {key: value for key, value in changes.items() if not isinstance(value, (Merge, Add))}
        errors: dict[str, Any] = {}
        values: dict[str, Any] = {}
        try:
            values = clean_changes(plain, now)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        merges: dict[str, dict[str, Any]] = {}
        add_tags: list[str] = []
        for key, marker in changes.items():
            try:
                if isinstance(marker, Merge):
                    merges[_marked_field(key, marker, MERGEABLE_FIELDS)] = clean_json_object(marker.value)
                elif isinstance(marker, Add):
                    _marked_field(key, marker, (ADDABLE_FIELD,))
                    add_tags = normalize_tags(marker.tags)
            except ValueError as exc:
                errors[str(key)] = [f"{key} {exc}."]
        if errors:
            raise ValidationError(errors)
        return cls(values, merges, tuple(add_tags))

    def __bool__(self) -> bool:
        return bool(self.values or self.merges or self.add_tags)

    @property
    def max_attempts(self) -> int | None:
        """The new ``max_attempts``, if this update sets one."""
        value: int | None = self.values.get("max_attempts")
        return value

    @property
    def reads_jobs(self) -> bool:
        """Whether each job's new values depend on its current ones (a merge or added tags)."""
        return bool(self.merges or self.add_tags)

    def for_job(self, job: Any) -> dict[str, Any]:
        """The field values this update gives ``job``, its merges and added tags resolved in Python."""
        values = dict(self.values)
        for name, new in self.merges.items():
            values[name] = {**getattr(job, name), **new}
        if self.add_tags:
            values[ADDABLE_FIELD] = normalize_tags([*job.tags, *self.add_tags])
        return values

    def expressions(self, now: datetime) -> dict[str, Any]:
        """Values for one set-based ``UPDATE`` (PostgreSQL): fields, the state rescheduling implies,
        ``meta || new`` for merges and the union of the tags."""
        values: dict[str, Any] = dict(self.values)
        scheduled_at = values.get("scheduled_at")
        if scheduled_at is not None:
            whens = [
                When(state=state, then=Value(moved))
                for state in (JobState.AVAILABLE, JobState.SCHEDULED)
                if (moved := state_after_rescheduling(state, scheduled_at, now)) != state
            ]
            if whens:
                values["state"] = Case(*whens, default=F("state"), output_field=models.TextField())
        for name, new in self.merges.items():
            values[name] = _concat(F(name), _jsonb(new), template="(%(expressions)s)")
        if self.add_tags:
            values[ADDABLE_FIELD] = _concat(F(ADDABLE_FIELD), _jsonb(list(self.add_tags)), template=_TAG_UNION)
        return values

    def describe(self) -> str:
        """``priority=0, meta merged with {...}, tags added: a, b``: for logs and audit messages."""
        parts = [f"{name}={value}" for name, value in self.values.items()]
        parts += [f"{name} merged with {json.dumps(new, sort_keys=True)}" for name, new in self.merges.items()]
        if self.add_tags:
            parts.append(f"tags added: {', '.join(self.add_tags)}")
        return ", ".join(parts)


def _marked_field(key: Any, marker: Merge | Add, fields: tuple[str, ...]) -> str:
    if key not in fields:
        kind = type(marker).__name__
        raise ValueError(f"cannot take {kind}(…): {kind} applies to {' and '.join(fields)}")
    return str(key)


def _concat(*expressions: Any, template: str) -> Func:
    """``a || b`` of JSONB values, wrapped in ``template``."""
    return Func(*expressions, template=template, arg_joiner=" || ", output_field=models.JSONField())


def _jsonb(value: Any) -> Cast:
    return Cast(Value(json.dumps(value)), models.JSONField())
