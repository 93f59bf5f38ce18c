"""Validation and normalisation of job field values.

One set of rules serves every way a job is written: ``Worker.new()``, ``insert_all()``,
``update_job()`` and friends, the admin and the management commands. Slightly over 300
lines so that every field's rule stays in this one module.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
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
#: The longest queue or worker name, in characters. Names are indexed (PostgreSQL refuses a
#: B-tree entry above 2,704 bytes) and a queue name is sent as a NOTIFY payload (below 8,000
#: bytes); 255 characters stay under both in any script (at most 4 bytes each in UTF-8).
MAX_NAME_LENGTH = 255
#: The deepest nesting of objects and arrays in args and meta (the value itself is level 1).
#: PostgreSQL 15 accepts about 10,000 levels of jsonb, but Python's ``json`` recurses once per
#: level: a value much deeper than this could be stored, then fail to load in the worker.
MAX_JSON_DEPTH = 256
#: The largest args or meta, in bytes of JSON text (as ``json.dumps`` writes it, non-ASCII
#: characters escaped): far below jsonb's limit of 255 MiB whatever the shape of the value.
MAX_JSON_SIZE = 16 * 1024 * 1024

# What PostgreSQL cannot store in text or jsonb: NUL, and UTF-16 surrogates (not Unicode
# characters: UTF-8 cannot encode them and jsonb rejects them).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

# Names ``clean_name`` returned unchanged: the few queues and workers of an application,
# looked up once per job inserted. Bounded: names made up per job are cleaned each time.
_CLEAN_NAMES: set[str] = set()
_CLEAN_NAMES_KEPT = 4096

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
        if value < timedelta(0):
            raise ValueError("a duration cannot be negative")
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
    for tag in tags:
        try:
            check_storable(tag)
        except ValueError as exc:
            raise ValueError(f"has a tag that {exc}") from None
    return sorted({tag.strip().lower() for tag in tags if tag.strip()})


def clean_priority(value: Any) -> int:
    if not _is_int(value) or value not in PRIORITY_RANGE:
        raise ValueError(f"must be an integer from 0 to 9 (0 is highest), not {value!r}")
    priority: int = value
    return priority


def clean_max_attempts(value: Any) -> int:
    if not _is_int(value) or value < 1:
        raise ValueError(f"must be an integer of at least 1, not {value!r}")
    if value > MAX_ATTEMPTS_LIMIT:
        raise ValueError(f"must be at most {MAX_ATTEMPTS_LIMIT}, not {value!r}")
    max_attempts: int = value
    return max_attempts


def check_storable(text: str) -> str:
    """``text`` unchanged; ``ValueError`` if it holds a character PostgreSQL cannot store."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return text
    if found.group() == "\x00":
        raise ValueError("contains a NUL character (\\u0000), which PostgreSQL cannot store")
    raise ValueError(f"contains a lone surrogate ({found.group()!a}), which is not a Unicode character")


def clean_name(value: Any) -> str:
    """Queue and worker names: non-blank strings, surrounding white space removed."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-blank string, not {_shown(value)}")
    name = check_storable(value).strip()
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"must be at most {MAX_NAME_LENGTH} characters long, not {len(name):,}")
    if name == value and type(value) is str and len(_CLEAN_NAMES) < _CLEAN_NAMES_KEPT:
        _CLEAN_NAMES.add(name)
    return name


def is_clean_name(value: Any) -> bool:
    """Whether ``clean_name(value)`` has returned ``value`` as it is (for a few thousand names):
    a name known clean without checking it again."""
    return type(value) is str and value in _CLEAN_NAMES


def clean_json_object(value: Any) -> dict[str, Any]:
    """A dict PostgreSQL stores as jsonb and Python reads back as it was given.

    Refused: NUL characters and lone surrogates in keys or strings, keys that are not strings,
    NaN and infinities, nesting deeper than ``MAX_JSON_DEPTH``, more than ``MAX_JSON_SIZE``
    bytes of JSON, and anything ``json`` cannot encode.
    """
    if not isinstance(value, Mapping):
        raise ValueError(f"must be a JSON object (a dict), not {type(value).__name__}")
    obj: dict[str, Any] = dict(value)
    if not obj:
        return obj
    _check_json_tree(obj)
    try:
        size = len(json.dumps(obj, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"must be JSON serialisable: {exc}") from exc
    if size > MAX_JSON_SIZE:
        raise ValueError(f"is {size:,} bytes as JSON, above the limit of {MAX_JSON_SIZE:,}")
    return obj


def _check_json_tree(value: Any) -> None:
    """Walk ``value`` without recursing; ``ValueError`` naming the first place JSON or PostgreSQL refuses."""
    # Each entry: a value, its nesting level, and its path as a linked (key, parent path) pair.
    pending: list[tuple[Any, int, tuple[Any, ...]]] = [(value, 1, ())]
    while pending:
        item, depth, path = pending.pop()
        try:
            if isinstance(item, str):
                check_storable(item)
            elif isinstance(item, float) and not math.isfinite(item):
                raise ValueError(f"holds {item!r}, which JSON cannot represent")
            elif isinstance(item, (dict, list, tuple)):
                if depth > MAX_JSON_DEPTH:
                    raise ValueError(f"is nested more than {MAX_JSON_DEPTH} levels deep")
                children = item.items() if isinstance(item, dict) else enumerate(item)
                for key, child in children:
                    if isinstance(item, dict):
                        _check_key(key)
                    pending.append((child, depth + 1, (key, path)))
        except ValueError as exc:
            raise ValueError(f"{_json_path(path)}{exc}") from None


def _check_key(key: Any) -> None:
    if not isinstance(key, str):
        raise ValueError(f"has a key that is not a string: {_shown(key)} (JSON object keys are strings)")
    try:
        check_storable(key)
    except ValueError as exc:
        raise ValueError(f"has a key that {exc}") from None


def _json_path(path: tuple[Any, ...]) -> str:
    """``at ["a"][0]: `` for the linked path of a nested value, ``""`` for the top level."""
    keys: list[Any] = []
    while path:
        key, path = path
        keys.append(key)
    if not keys:
        return ""
    shown = [f"[{_shown(key)}]" for key in reversed(keys)]
    if len(shown) > 10:
        shown = [*shown[:5], "…", *shown[-4:]]
    return "at " + "".join(shown) + ": "


def _shown(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for messages about values that may be huge."""
    text = repr(value) if not isinstance(value, str) or len(value) <= limit else repr(value[:limit])
    return text if len(text) <= limit + 2 else text[:limit] + "…"


def clean_scheduled_at(value: Any) -> datetime:
    """An aware datetime (naive, or an ISO 8601 string without an offset: in the current time zone).

    Naive when ``USE_TZ`` is off. It must fall within the years 1 to 9999 in UTC, the range
    Python can read back from PostgreSQL.
    """
    if isinstance(value, str):
        value = _parse_datetime(value)
    if not isinstance(value, datetime):
        raise ValueError(f"must be a datetime or an ISO 8601 string, not {_shown(value)}")
    aware = timezone.make_aware(value) if timezone.is_naive(value) else value
    try:
        aware.astimezone(dt_timezone.utc)
        return aware if settings.USE_TZ else timezone.make_naive(aware)
    except OverflowError:
        raise ValueError(f"is out of range: {value.isoformat()} is not within the years 1 to 9999 in UTC") from None


def _parse_datetime(text: str) -> datetime:
    try:
        parsed = parse_datetime(check_storable(text).strip())
    except ValueError as exc:
        raise ValueError(f"is not a valid date and time: {_shown(text)} ({exc})") from None
    if parsed is None:
        raise ValueError(f"must be a datetime or an ISO 8601 string, not {_shown(text)}")
    return parsed


def clean_schedule_in(value: Any, now: datetime) -> datetime:
    """Seconds (int/float) or a ``timedelta`` from ``now``: not negative, not beyond the year 9999."""
    if isinstance(value, timedelta):
        delay = value
    elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"must be a number of seconds or a timedelta, not {_shown(value)}")
    else:
        try:
            delay = timedelta(seconds=value)
        except OverflowError:
            raise ValueError(f"is out of range: {value!r}") from None
    if delay < timedelta(0):
        raise ValueError(f"cannot be negative (0 is now), not {value!r}")
    try:
        return clean_scheduled_at(now + delay)
    except OverflowError:
        raise ValueError(f"is out of range: {value!r} from now is beyond the year 9999") from None


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
