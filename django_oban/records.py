"""Validation of a whole job row, as ``Job.clean()`` and ``Job.save()`` write it.

The updatable fields follow ``changes.py``'s rules (the ones every update follows); the
columns only the runtime writes (state, attempt, errors, attempted_by, the timestamps, the
id) are checked here, so a hand-made or hand-edited ``Job`` is refused with a
``ValidationError`` naming the field instead of a database error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from datetime import timezone as dt_timezone
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from .changes import (
    MAX_ATTEMPTS_LIMIT,
    PRIORITY_RANGE,
    UPDATABLE_FIELDS,
    clean_changes,
    clean_json_object,
    clean_scheduled_at,
    is_clean_name,
)
from .states import JobState
from .unique import clean_unique

MAX_ID = 2**63 - 1  # a bigint
_STATES = frozenset(JobState.values)  # a set: looked up for every job written
_OPTIONAL_TIMES = ("attempted_at", "completed_at", "cancelled_at", "discarded_at")


def clean_record(values: Mapping[str, Any]) -> dict[str, Any]:
    """Every field of ``values`` (columns by attribute name) cleaned; ``ValidationError`` naming each bad one."""
    errors: dict[str, Any] = {}
    cleaned: dict[str, Any] = {}
    try:
        cleaned.update(clean_changes({name: values[name] for name in UPDATABLE_FIELDS if name in values}))
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    for name, cleaner in _RUNTIME_CLEANERS.items():
        if name not in values:
            continue
        try:
            cleaned[name] = cleaner(values[name], name)
        except ValueError as exc:
            errors[name] = [f"{name} {exc}."]
    if errors:
        raise ValidationError(errors)
    return cleaned


#: What ``is_clean_new_record`` does not vouch for: a new job's contents, cleaned when not empty.
NEW_RECORD_CONTENTS = ("args", "meta", "tags")


def is_clean_new_record(values: Mapping[str, Any]) -> bool:
    """Whether ``values`` (a new job's fields by attribute name) are clean as they are, but for
    what ``args``, ``meta`` and ``tags`` hold: what ``clean_record`` would return for every
    other field, and those three of the right type (``NEW_RECORD_CONTENTS``: still to clean
    when not empty).

    The shape ``Worker.new()`` gives a job: a state as a plain string, names already cleaned,
    no history, times in UTC, no id, no unique options. Recognised in one pass, not field by
    field; ``False`` says only that ``clean_record`` must decide.
    """
    try:
        priority, max_attempts, attempt = values["priority"], values["max_attempts"], values["attempt"]
        args, meta, tags, errors, attempted_by = (
            values["args"], values["meta"], values["tags"], values["errors"], values["attempted_by"]
        )
        return (
            values["id"] is None
            and values["unique"] is None
            and values["attempted_at"] is None
            and values["completed_at"] is None
            and values["cancelled_at"] is None
            and values["discarded_at"] is None
            and type(state := values["state"]) is str
            and state in _STATES
            and is_clean_name(values["worker"])
            and is_clean_name(values["queue"])
            and type(priority) is int and priority in PRIORITY_RANGE
            and type(max_attempts) is int and 1 <= max_attempts <= MAX_ATTEMPTS_LIMIT
            and type(attempt) is int and 0 <= attempt <= MAX_ATTEMPTS_LIMIT
            and type(args) is dict and type(meta) is dict and type(tags) is list
            and type(errors) is list and not errors
            and type(attempted_by) is list and not attempted_by
            and _is_utc(values["inserted_at"]) and _is_utc(values["scheduled_at"])
            and settings.USE_TZ
        )
    except KeyError:
        return False


def _is_utc(value: Any) -> bool:
    return type(value) is datetime and value.tzinfo is dt_timezone.utc


def _clean_id(value: Any, name: str) -> int | None:
    if value is not None and (not _is_int(value) or not 1 <= value <= MAX_ID):
        raise ValueError(f"must be an integer from 1 to {MAX_ID}, not {value!r}")
    pk: int | None = value
    return pk


def _clean_state(value: Any, name: str) -> str:
    if value not in _STATES:
        raise ValueError(f"must be one of {', '.join(JobState.values)}, not {value!r}")
    return str(value)


def _clean_attempt(value: Any, name: str) -> int:
    if not _is_int(value) or not 0 <= value <= MAX_ATTEMPTS_LIMIT:
        raise ValueError(f"must be an integer from 0 to {MAX_ATTEMPTS_LIMIT}, not {value!r}")
    attempt: int = value
    return attempt


def _clean_json_list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"must be a list, not {type(value).__name__}")
    if not value:
        return []
    stored: list[Any] = clean_json_object({name: value})[name]
    return stored


def _clean_time(value: Any, name: str) -> Any:
    if value is None and name in _OPTIONAL_TIMES:
        return None
    return clean_scheduled_at(value)


def _clean_unique(value: Any, name: str) -> dict[str, Any] | None:
    return clean_unique(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_RUNTIME_CLEANERS: dict[str, Callable[[Any, str], Any]] = {
    "id": _clean_id,
    "state": _clean_state,
    "attempt": _clean_attempt,
    "errors": _clean_json_list,
    "attempted_by": _clean_json_list,
    "inserted_at": _clean_time,
    "unique": _clean_unique,
    **{name: _clean_time for name in _OPTIONAL_TIMES},
}
