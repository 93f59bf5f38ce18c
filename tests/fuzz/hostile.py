"""Hostile values and Hypothesis strategies shared by the fuzz tests.

Each table pairs a value with a fragment of the message that must explain why it is refused.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal
from typing import Any

from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from django_oban.changes import MAX_JSON_DEPTH, MAX_JSON_SIZE, MAX_NAME_LENGTH
from tests.conftest import snapshot

#: CI runs a small derandomized budget; ``OBAN_HYPOTHESIS_PROFILE=thorough`` runs many random examples.
THOROUGH = os.environ.get("OBAN_HYPOTHESIS_PROFILE") == "thorough"
FUZZ = settings(
    max_examples=1000 if THOROUGH else 60,
    derandomize=not THOROUGH,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: SQL-looking strings: stored verbatim wherever text goes, never interpreted.
SQL_LOOKING = ["' OR 1=1 --", "'); DROP TABLE oban_jobs; --", '" OR ""="', "%", "_", "\\", "$1", "E'\\x00'"]


def nested(depth: int) -> dict[str, Any]:
    """A dict nested ``depth`` levels deep (``{}`` is level 1), built without recursion."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def nested_list(depth: int) -> list[Any]:
    """A list nested ``depth`` levels deep (``[]`` is level 1)."""
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def self_referencing() -> dict[str, Any]:
    value: dict[str, Any] = {}
    value["self"] = value
    return value


def random_text(length: int, seed: int = 9) -> str:
    """Incompressible text of ``length`` characters, mostly 4 bytes each in UTF-8 (no surrogates, no NUL)."""
    rng = random.Random(seed)
    return "".join(chr(rng.randrange(0x10000, 0x10FFFF)) for _ in range(length))


#: (label, value, fragment of the message) for args and meta.
BAD_JSON: list[tuple[str, Any, str]] = [
    ("NUL in a value", {"a": "x\x00y"}, "NUL character"),
    ("NUL in a key", {"a\x00": 1}, "NUL character"),
    ("NUL deep in a list", {"a": [{"b": ["ok", "\x00"]}]}, "NUL character"),
    ("lone high surrogate", {"a": "\ud800"}, "lone surrogate"),
    ("lone low surrogate in a key", {"\udfff": 1}, "lone surrogate"),
    ("surrogate pair as two code points", {"a": "\ud83d\ude00"}, "lone surrogate"),
    ("surrogate escaped from argv", {"a": "\udcff"}, "lone surrogate"),
    ("NaN", {"a": math.nan}, "JSON cannot represent"),
    ("Infinity", {"a": [math.inf]}, "JSON cannot represent"),
    ("-Infinity", {"a": {"b": -math.inf}}, "JSON cannot represent"),
    ("an object", {"a": object()}, "JSON serialisable"),
    ("bytes", {"a": b"x"}, "JSON serialisable"),
    ("a set", {"a": {1, 2}}, "JSON serialisable"),
    ("a Decimal", {"a": Decimal("1.5")}, "JSON serialisable"),
    ("a datetime", {"a": datetime(2030, 1, 1)}, "JSON serialisable"),
    ("an int key", {1: "a"}, "key that is not a string"),
    ("a None key", {None: "a"}, "key that is not a string"),
    ("a tuple key", {(1, 2): "a"}, "key that is not a string"),
    ("nesting one level too deep", nested(MAX_JSON_DEPTH + 1), f"nested more than {MAX_JSON_DEPTH} levels"),
    ("nesting 10,000 deep", nested(10_000), f"nested more than {MAX_JSON_DEPTH} levels"),
    ("a list nested 10,000 deep", {"a": nested_list(10_000)}, f"nested more than {MAX_JSON_DEPTH} levels"),
    ("a value containing itself", self_referencing(), "nested more"),
    ("an int of 5,000 digits", {"a": 10**5000}, "JSON serialisable"),
    ("more than the size limit", {"a": "x" * (MAX_JSON_SIZE + 1)}, "above the limit"),
    ("a list", [1, 2], "JSON object"),
    ("a string", '{"a": 1}', "JSON object"),
    ("None", None, "JSON object"),
]

#: Values at or near the limits that must be stored and read back exactly.
GOOD_JSON: list[tuple[str, dict[str, Any]]] = [
    ("nesting at the limit", nested(MAX_JSON_DEPTH)),
    ("a 5 MB string", {"a": "é" * 2_500_000}),
    ("ints beyond 64 bits", {"big": 2**100, "small": -(2**100), "wide": 10**4000}),
    ("extreme floats", {"max": 1.7976931348623157e308, "tiny": 5e-324, "negative zero": -0.0}),
    ("unicode", {"emoji 😀": "👩‍👩‍👧 \u2028 \u202e עברית ﷽ \ufeff", "combining": "e\u0301"}),
    ("SQL-looking", {text: text for text in SQL_LOOKING}),
    ("empty key", {"": ""}),
]

#: (label, value, fragment) for queue and worker names.
BAD_NAMES: list[tuple[str, Any, str]] = [
    ("NUL", "mail\x00ers", "NUL character"),
    ("lone surrogate", "mail\ud800ers", "lone surrogate"),
    ("surrogate escaped from argv", "\udcff", "lone surrogate"),
    ("too long", "q" * (MAX_NAME_LENGTH + 1), f"at most {MAX_NAME_LENGTH} characters"),
    ("9,000 characters", "é" * 9000, f"at most {MAX_NAME_LENGTH} characters"),
    ("blank", " \t\n", "non-blank string"),
    ("empty", "", "non-blank string"),
    ("an int", 5, "non-blank string"),
    ("bytes", b"default", "non-blank string"),
    ("a list", ["default"], "non-blank string"),
]

#: (label, value, fragment) for tags.
BAD_TAGS: list[tuple[str, Any, str]] = [
    ("NUL in a tag", ["ok", "a\x00"], "NUL character"),
    ("lone surrogate in a tag", ["\ud800"], "lone surrogate"),
    ("a string", "urgent", "list of strings"),
    ("an int", 5, "list of strings"),
    ("an int in the list", ["a", 5], "list of strings"),
    ("None in the list", [None], "list of strings"),
    ("a nested list", [["a"]], "list of strings"),
]

#: (label, value, fragment) for priority.
BAD_PRIORITIES: list[tuple[str, Any, str]] = [
    (label, value, "integer from 0 to 9")
    for label, value in [
        ("10", 10), ("-1", -1), ("2**15", 2**15), ("2**63", 2**63), ("-(2**63)-1", -(2**63) - 1),
        ("True", True), ("False", False), ("1.5", 1.5), ("1.0", 1.0), ("'3'", "3"), ("NaN", math.nan), ("None", None),
    ]
]

#: (label, value, fragment) for max_attempts.
BAD_MAX_ATTEMPTS: list[tuple[str, Any, str]] = [
    ("0", 0, "at least 1"), ("-1", -1, "at least 1"), ("2**31", 2**31, "at most 2147483647"),
    ("2**63", 2**63, "at most 2147483647"), ("2**64", 2**64, "at most 2147483647"), ("True", True, "at least 1"),
    ("2.5", 2.5, "at least 1"), ("'5'", "5", "at least 1"), ("infinity", math.inf, "at least 1"),
]

#: (label, value, fragment) for scheduled_at.
BAD_SCHEDULED_AT: list[tuple[str, Any, str]] = [
    ("year 9999 west of UTC", "9999-12-31T23:00:00-05:00", "years 1 to 9999"),
    ("year 1 east of UTC", "0001-01-01T00:00:00+05:00", "years 1 to 9999"),
    ("aware datetime past 9999 in UTC", datetime(9999, 12, 31, 23, tzinfo=dt_timezone(timedelta(hours=-5))), "9999"),
    ("30 February", "2030-02-30T00:00:00", "not a valid date"),
    ("an offset of 99 hours", "2030-01-01T00:00:00+99:00", "not a valid date"),
    ("a year of 5 digits", "99999-01-01T00:00:00", "ISO 8601"),
    ("words", "tomorrow", "ISO 8601"),
    ("NUL", "2030-01-01\x00T00:00:00", "NUL character"),
    ("SQL-looking", "' OR 1=1 --", "ISO 8601"),
    ("a date", date(2030, 1, 1), "datetime or an ISO 8601 string"),
    ("an int", 1_900_000_000, "datetime or an ISO 8601 string"),
    ("a float", 1.5, "datetime or an ISO 8601 string"),
    ("bytes", b"2030-01-01T00:00:00", "datetime or an ISO 8601 string"),
]

#: (label, value, fragment) for schedule_in.
BAD_SCHEDULE_IN: list[tuple[str, Any, str]] = [
    ("negative seconds", -5, "cannot be negative"),
    ("a negative fraction", -0.001, "cannot be negative"),
    ("a negative timedelta", timedelta(seconds=-1), "cannot be negative"),
    ("the smallest timedelta", timedelta.min, "cannot be negative"),
    ("NaN", math.nan, "number of seconds"),
    ("infinity", math.inf, "number of seconds"),
    ("-infinity", -math.inf, "number of seconds"),
    ("True", True, "number of seconds"),
    ("a string", "60", "number of seconds"),
    ("a list", [60], "number of seconds"),
    ("1e300 seconds", 1e300, "out of range"),
    ("10**30 seconds", 10**30, "out of range"),
    ("the largest timedelta", timedelta.max, "out of range"),
    ("past the year 9999", 9000 * 366 * 86400, "out of range"),
]

# -- strategies ---------------------------------------------------------------------------

#: Any code point, NUL and surrogates included.
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
SCALARS = (
    st.none() | st.booleans() | st.integers() | st.integers(min_value=-(10**60), max_value=10**60)
    | st.floats(allow_nan=True, allow_infinity=True) | ANY_TEXT
)
JSON_LIKE = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(ANY_TEXT | st.integers(), children, max_size=4),
    max_leaves=30,
)
JSON_OBJECTS = st.dictionaries(ANY_TEXT, JSON_LIKE, max_size=5)


@contextmanager
def nothing_changes() -> Iterator[None]:
    """Assert that no job row changed (every column of every row) inside the block."""
    before = snapshot()
    yield
    assert snapshot() == before, "a refused call changed jobs"


@contextmanager
def savepoint() -> Iterator[None]:
    """One Hypothesis example: a database error rolls back only this example, so shrinking works."""
    with transaction.atomic():
        yield


def same_json(stored: Any, given: Any) -> bool:
    """Whether ``stored`` (read back) is ``given``, numbers compared by value.

    PostgreSQL keeps JSON numbers as ``numeric``: a float with a large exponent comes back
    written out in full, which Python reads as an int of the same value (``1e20`` →
    ``100000000000000000000``).
    """
    if isinstance(given, float) or isinstance(stored, float):
        return isinstance(stored, (int, float)) and not isinstance(stored, bool) and float(stored) == float(given)
    if isinstance(given, dict):
        return (
            isinstance(stored, dict)
            and stored.keys() == given.keys()
            and all(same_json(stored[key], value) for key, value in given.items())
        )
    if isinstance(given, list):
        return isinstance(stored, list) and len(stored) == len(given) and all(map(same_json, stored, given))
    return type(stored) is type(given) and stored == given
