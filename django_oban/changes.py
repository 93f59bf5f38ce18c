"""Validation and normalisation of job field values.

One set of rules serves every way a job is written: ``Worker.new()``, ``insert_all()``,
``update_job()`` and friends, the admin and the management commands.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .states import JobState

#: Fields that ``update_job()`` and ``QuerySet.update_many()`` may change.
UPDATABLE_FIELDS: tuple[str, ...] = (
    "args",
    "max_attempts",
    "meta",
    "priority",
    "queue",
    "scheduled_at",
    "tags",
    "worker",
)
#: Keys accepted in changes that set ``scheduled_at`` relative to now.
SCHEDULE_IN_KEYS: tuple[str, ...] = ("schedule_in", "scheduled_in")

PRIORITY_RANGE = range(0, 10)
#: The largest max_attempts the column (a 32-bit integer) holds.
MAX_ATTEMPTS_LIMIT = 2**31 - 1

#: How a duration is written, for help texts and error messages.
DURATION_HELP = "seconds, or a number with a unit: 30s, 5m, 2h, 1d, 1w; units combine (1h30m)"
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_SECONDS = re.compile(r"\d+(?:\.\d+)?")


def parse_duration(value: Any) -> timedelta:
    """``30s``, ``5m``, ``2h``, ``1d``, ``1w``, ``1h30m`` or plain seconds (a ``timedelta`` as is).

    Raises ``ValueError`` for anything else, negative and out-of-range durations included.
    """
    if isinstance(value, timedelta):
        return value
    text = str(value).strip().lower()
    if _SECONDS.fullmatch(text):
        seconds = float(text)
    elif text and _DURATION_PART.sub("", text) == "":
        seconds = sum(float(number) * _DURATION_UNITS[unit] for number, unit in _DURATION_PART.findall(text))
    else:
        raise ValueError(f"expected {DURATION_HELP}")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError("that duration is out of range") from None


def normalize_tags(tags: Any) -> list[str]:
    """Strip, lower-case, de-duplicate and sort tags, dropping blanks."""
    if isinstance(tags, (str, bytes)) or not isinstance(tags, Iterable):
        raise ValueError("must be a list of strings")
    tags = list(tags)
    if not all(isinstance(tag, str) for tag in tags):
        raise ValueError("must be a list of strings")
    return sorted({tag.strip().lower() for tag in tags if tag.strip()})


def clean_priority(value: Any) -> int:
    if not _is_int(value) or value not in PRIORITY_RANGE:
        raise ValueError(f"must be an integer from 0 to 9 (0 is highest), not {value!r}")
    return value


def clean_max_attempts(value: Any) -> int:
    if not _is_int(value) or value < 1:
        raise ValueError(f"must be an integer of at least 1, not {value!r}")
    if value > MAX_ATTEMPTS_LIMIT:
        raise ValueError(f"must be at most {MAX_ATTEMPTS_LIMIT}, not {value!r}")
    return value


def clean_name(value: Any) -> str:
    """Queue and worker names: non-blank strings, surrounding white space removed."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-blank string, not {value!r}")
    return value.strip()


def clean_json_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"must be a JSON object (a dict), not {type(value).__name__}")
    value = dict(value)
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"must be JSON serialisable: {exc}") from exc
    return value


def clean_scheduled_at(value: Any) -> datetime:
    if isinstance(value, str):
        parsed = parse_datetime(value.strip())
        if parsed is None:
            raise ValueError(f"must be a datetime or an ISO 8601 string, not {value!r}")
        value = parsed
    if not isinstance(value, datetime):
        raise ValueError(f"must be a datetime, not {value!r}")
    if timezone.is_naive(value) and settings.USE_TZ:
        value = timezone.make_aware(value)
    return value


def clean_schedule_in(value: Any, now: datetime) -> datetime:
    """Seconds (int/float) or a ``timedelta`` from ``now``."""
    if isinstance(value, timedelta):
        return now + value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"must be a number of seconds or a timedelta, not {value!r}")
    try:
        return now + timedelta(seconds=value)
    except OverflowError as exc:
        raise ValueError(f"is out of range: {value!r}") from exc


_CLEANERS: dict[str, Callable[[Any], Any]] = {
    "args": clean_json_object,
    "meta": clean_json_object,
    "max_attempts": clean_max_attempts,
    "priority": clean_priority,
    "queue": clean_name,
    "worker": clean_name,
    "tags": normalize_tags,
    "scheduled_at": clean_scheduled_at,
}


def clean_changes(changes: Any, now: datetime | None = None) -> dict[str, Any]:
    """Validate update ``changes`` and return them as model field values.

    ``schedule_in``/``scheduled_in`` become ``scheduled_at``. Raises ``ValidationError``
    keyed by every offending field; nothing is partially accepted.
    """
    if not isinstance(changes, Mapping):
        raise ValidationError(
            f"Changes must be a dict of field -> value, not {type(changes).__name__}.", code="invalid"
        )
    now = now or timezone.now()
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    relative = [key for key in SCHEDULE_IN_KEYS if key in changes]
    if len(relative) + ("scheduled_at" in changes) > 1:
        keys = ", ".join(relative + ["scheduled_at"] * ("scheduled_at" in changes))
        errors["scheduled_at"] = [f"Give only one of {keys}."]
    for key, value in changes.items():
        try:
            if key in SCHEDULE_IN_KEYS:
                cleaned["scheduled_at"] = clean_schedule_in(value, now)
            elif key in _CLEANERS:
                cleaned[key] = _CLEANERS[key](value)
            else:
                allowed = ", ".join(UPDATABLE_FIELDS + SCHEDULE_IN_KEYS)
                errors[str(key)] = [f"'{key}' cannot be updated; updatable fields are: {allowed}."]
        except ValueError as exc:
            errors[str(key)] = [f"{key} {exc}."]
    if errors:
        raise ValidationError(errors)
    return cleaned


def state_after_rescheduling(state: str, scheduled_at: datetime, now: datetime) -> str:
    """The state a job takes when its ``scheduled_at`` moves.

    Into the future an available job becomes scheduled; into the past a scheduled job
    becomes available. Every other state is kept.
    """
    if state == JobState.AVAILABLE and scheduled_at > now:
        return JobState.SCHEDULED
    if state == JobState.SCHEDULED and scheduled_at <= now:
        return JobState.AVAILABLE
    return state


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
