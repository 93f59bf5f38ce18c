"""Searching jobs the way Oban Web does: ``worker:Report state:discarded args.user_id:42``.

A search is words separated by spaces, every word must match (AND). A word ``name:values``
filters by one field, its comma-separated values are alternatives (OR); double quotes keep
spaces in a value (``args.name:"Ada Lovelace"``):

- ``id:1,2`` — job ids; ``state:discarded,retryable``; ``priority:0,1``; ``queue:mailers``
  (exact names);
- ``worker:report`` — worker paths containing the text, any case;
- ``node:web-1`` — jobs attempted by that node;
- ``tags:urgent,vip`` — jobs carrying any of the tags;
- ``args.KEY:VALUE`` and ``meta.KEY:VALUE`` — a key (dots go deeper: ``args.user.id:7``)
  equal to the value, read as JSON when it is JSON (``42``, ``true``, ``null``) and else as text.

A word without a colon is plain text, as the search box always took it: a job id (``#``
optional), part of a worker path, or a tag; a search of plain words only is one such term.
A word the rules cannot read raises ``ValidationError`` saying what is wrong.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Sequence
from math import isfinite
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.fields.json import KeyTransform

from .changes import PRIORITY_RANGE
from .conditions import node_condition, tag_condition
from .records import MAX_ID
from .states import JobState

#: A word: characters up to a space, where a double-quoted stretch may hold spaces.
WORD = re.compile(r'(?:[^\s"]|"[^"]*"?)+')
#: ``name:values``, where a JSON name has a dotted key path: ``args.user.id:7``.
FILTER = re.compile(r"^(?P<name>[A-Za-z_]+)(?:\.(?P<path>[^:]+))?:(?P<values>.*)$", re.DOTALL)
#: The filter names the search understands, as the help text lists them.
NAMES = ("id", "state", "priority", "queue", "worker", "node", "tags", "args", "meta")
JSON_NAMES = frozenset({"args", "meta"})

#: Known worker paths, asked for only when a search needs them (the admin lists them cheaply).
Workers = Callable[[], Sequence[str]]


def search_condition(text: str, *, using: str, workers: Workers) -> models.Q:
    """The jobs ``text`` finds on database ``using``, as one ``Q``; ``ValidationError`` when it is wrong."""
    if "\x00" in text:
        raise ValidationError("A search cannot hold a NUL character.")
    workers = functools.cache(workers)  # one look-up of the worker paths, however many words need it
    words = [word.replace('"', "") for word in WORD.findall(text)]
    if not any(FILTER.match(word) for word in words):
        return plain_condition(text.strip(), using=using, workers=workers)
    condition = models.Q()
    for word in words:
        condition &= word_condition(word, using=using, workers=workers)
    return condition


def plain_condition(term: str, *, using: str, workers: Workers) -> models.Q:
    """Jobs whose id is ``term`` (``#`` optional), whose worker path contains it (any case), or tagged with it.

    Worker paths are matched against the list of known paths, so the query filters on
    ``worker IN (…)`` (indexed) rather than scanning every row.
    """
    condition = tag_condition(term, using)
    matching = [worker for worker in workers() if term.casefold() in worker.casefold()]
    if matching:
        condition |= models.Q(worker__in=matching)
    pk = job_id(term.removeprefix("#"))
    if pk is not None:
        condition |= models.Q(pk=pk)
    return condition


def word_condition(word: str, *, using: str, workers: Workers) -> models.Q:
    """The condition of one word of a search."""
    match = FILTER.match(word)
    if match is None:
        return plain_condition(word, using=using, workers=workers)
    name, path, text = match["name"].lower(), match["path"], match["values"]
    if name not in NAMES:
        raise ValidationError(f"Unknown search filter {name + ':'!r}; use one of {', '.join(NAMES)}.")
    if path is not None and name not in JSON_NAMES:
        raise ValidationError(f"{name}: takes no key ({word!r}); only args.KEY: and meta.KEY: do.")
    if name in JSON_NAMES:
        if path is None or not all(path.split(".")):
            raise ValidationError(f"{name}: needs a key, as in {name}.user_id:42.")
        return json_condition(name, path.split("."), text)
    values = [value.strip() for value in text.split(",") if value.strip()]
    if not values:
        raise ValidationError(f"{name}: needs a value, as in {name}:{EXAMPLES[name]}.")
    return field_condition(name, values, using=using, workers=workers)


EXAMPLES = {"id": "42", "state": "discarded", "priority": "0", "queue": "default", "worker": "SendEmail",
            "node": "web-1", "tags": "urgent"}


def field_condition(name: str, values: list[str], *, using: str, workers: Workers) -> models.Q:
    """The condition of ``name:values`` for a column: any of the values."""
    if name == "id":
        return models.Q(pk__in=[checked_id(value) for value in values])
    if name == "state":
        unknown = [value for value in values if value.lower() not in JobState.values]
        if unknown:
            raise ValidationError(f"Unknown state {unknown[0]!r}; a state is one of {', '.join(JobState.values)}.")
        return models.Q(state__in=[value.lower() for value in values])
    if name == "priority":
        return models.Q(priority__in=[checked_priority(value) for value in values])
    if name == "queue":
        return models.Q(queue__in=values)
    if name == "worker":
        known = workers()
        return models.Q(worker__in=[path for path in known if any(v.casefold() in path.casefold() for v in values)])
    condition = models.Q(pk__in=[])
    for value in values:
        condition |= tag_condition(value, using) if name == "tags" else node_condition(value, using)
    return condition


def json_condition(name: str, path: list[str], text: str) -> models.Q:
    """Jobs whose ``name`` (args or meta) holds ``text`` at ``path``: as JSON when it parses, or as text."""
    # The column typed as JSON, so the comparison encodes the value as JSON on every database.
    expression: Any = models.ExpressionWrapper(models.F(name), output_field=models.JSONField())
    for key in path:
        expression = KeyTransform(key, expression)
    candidates: list[Any] = [text]
    try:
        decoded = json.loads(text)
    except ValueError:
        decoded = text
    if isinstance(decoded, int) and not isinstance(decoded, bool) and abs(decoded) > MAX_ID:
        raise ValidationError(f"{name}.{'.'.join(path)}: {text} is too large a number for a search.")
    scalar = isinstance(decoded, (bool, int, str)) or decoded is None
    if (scalar or (isinstance(decoded, float) and isfinite(decoded))) and decoded != text:
        candidates.append(decoded)
    condition = models.Q(pk__in=[])
    for value in candidates:
        condition |= models.Q(expression.get_lookup("exact")(expression, value))
    return condition


def job_id(text: str) -> int | None:
    """``text`` as a job id (ASCII digits, at most 64 bits), or ``None`` when it cannot be one."""
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value <= MAX_ID else None


def checked_id(text: str) -> int:
    """``text`` as a job id; ``ValidationError`` when it cannot be one."""
    pk = job_id(text.removeprefix("#"))
    if pk is None:
        raise ValidationError(f"id: takes job ids (whole numbers below 2**63), not {text!r}.")
    return pk


def checked_priority(text: str) -> int:
    """``text`` as a priority; ``ValidationError`` unless it is 0 to 9."""
    if not (text.isascii() and text.isdigit()) or int(text) not in PRIORITY_RANGE:
        raise ValidationError(f"priority: takes whole numbers from 0 to 9, not {text!r}.")
    return int(text)
