"""Command-line values, parsed and checked: each parser raises ``CommandError`` naming the option.

Values come as strings from the command line or as Python values from ``call_command``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.core.management.base import CommandError
from django.utils import timezone

from ..changes import check_storable
from ..changes import parse_duration as duration_value
from ..records import MAX_ID
from ..states import JobState

#: Why a NUL character is refused: PostgreSQL text and JSONB cannot hold it.
NUL_MESSAGE = "contains a NUL character (\\u0000), which PostgreSQL cannot store."


def parse_duration(value: Any, option: str) -> timedelta:
    """``30s``, ``5m``, ``2h``, ``1d``, ``1w``, ``1h30m`` or plain seconds, as a ``timedelta``."""
    try:
        return duration_value(value)
    except ValueError as exc:
        raise CommandError(f"Invalid {option} {value!r}: {exc}.") from None


def parse_age(value: Any, option: str) -> timedelta:
    """A duration back from now (``--older-than``): not negative, its start a representable time."""
    age = parse_duration(value, option)
    if age < timedelta(0):
        raise CommandError(f"Invalid {option} {value!r}: a duration cannot be negative.")
    try:
        timezone.now() - age
    except OverflowError:
        raise CommandError(f"Invalid {option} {value!r}: that reaches back before the year 1.") from None
    return age


def parse_int(value: Any, option: str, *, minimum: int | None = None) -> int:
    """An integer option value (a string from the command line, or an int from ``call_command``)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise CommandError(f"Invalid {option} {value!r}: expected an integer.")
    try:
        number = int(value)
    except ValueError:
        raise CommandError(f"Invalid {option} {value!r}: expected an integer.") from None
    if minimum is not None and number < minimum:
        raise CommandError(f"Invalid {option} {value!r}: must be at least {minimum}.")
    return number


def parse_json_object(value: Any, option: str) -> Any:
    """The JSON value given to ``option``; whether it is an object is checked with the changes."""
    if isinstance(value, dict):
        parsed = value
    else:
        try:
            parsed = json.loads(value)
        except (TypeError, ValueError) as exc:
            raise CommandError(f"Invalid {option} {value!r}: not valid JSON ({exc}).") from None
        except RecursionError:
            raise CommandError(f"Invalid {option}: nested too deeply to read.") from None
    try:
        holds_nul = _holds_nul(parsed)
    except RecursionError:
        raise CommandError(f"Invalid {option}: nested too deeply to read.") from None
    if holds_nul:
        raise CommandError(f"Invalid {option} {value!r}: {NUL_MESSAGE}")
    return parsed


def reject_nul(value: Any, option: str) -> Any:
    """``value`` unchanged, unless it is a string PostgreSQL cannot store (a NUL, a lone surrogate)."""
    if isinstance(value, str):
        try:
            check_storable(value)
        except ValueError as exc:
            raise CommandError(f"Invalid {option} {value!r}: {exc}.") from None
    return value


def parse_ids(values: Iterable[Any]) -> list[int]:
    """Job ids from the command line, de-duplicated in the order given."""
    ids: dict[int, None] = {}
    for value in values:
        text = str(value).strip()
        if not (text.isascii() and text.isdigit()) or not text.strip("0"):
            raise CommandError(f"Invalid job id {value!r}: expected a positive integer.")
        if len(text.lstrip("0")) > len(str(MAX_ID)) or int(text) > MAX_ID:
            raise CommandError(f"Invalid job id {value!r}: ids are at most {MAX_ID}.")
        ids[int(text)] = None
    return list(ids)


def parse_states(values: Iterable[str], option: str = "--state") -> list[str]:
    """State names, each checked against ``JobState``."""
    states = []
    for value in values:
        state = value.strip().lower()
        if state not in JobState.values:
            raise CommandError(f"Invalid {option} {value!r}: states are {', '.join(JobState.values)}.")
        states.append(state)
    return states


def parse_name(value: Any, option: str) -> str:
    """A non-blank queue, worker or tag name."""
    if not isinstance(value, str) or not value.strip():
        raise CommandError(f"Invalid {option} {value!r}: expected a non-blank name.")
    name: str = reject_nul(value, option)
    return name.strip()


def _holds_nul(value: Any) -> bool:
    """Whether a NUL character is in a string anywhere in ``value`` (keys included)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return any(map(_holds_nul, value))
    return False
