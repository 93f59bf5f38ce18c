"""Conditions on jobs that depend on the database's features: tags and nodes in JSON lists, and which engine runs."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connections, models

from .changes import normalize_tags
from .states import FINISHED_AT, FINISHED_STATES


def tag_condition(tag: str, using: str) -> models.Q:
    """The condition "carries ``tag``" (normalised: stripped, lower-cased) on database ``using``.

    ``TypeError`` if ``tag`` is not a string, ``ValidationError`` if no tag could hold it.
    """
    if not isinstance(tag, str):
        raise TypeError(f"A tag is a string, not {type(tag).__name__} {tag!r}.")
    try:
        normalized = normalize_tags([tag])
    except ValueError as exc:
        raise ValidationError({"tag": [f"tag {exc}."]}) from None
    if not normalized:
        return models.Q(pk__in=[])  # a blank tag: no job carries one
    return list_contains("tags", normalized[0], using)  # the GIN index oban_jobs_tags on PostgreSQL


def node_condition(node: str, using: str) -> models.Q:
    """Jobs attempted by ``node`` (one of the names in ``attempted_by``)."""
    return list_contains("attempted_by", node, using)


def list_contains(field: str, text: str, using: str) -> models.Q:
    """The JSON list ``field`` holds the string ``text``, on database ``using``."""
    if connections[using].features.supports_json_field_contains:
        return models.Q(**{f"{field}__contains": [text]})
    # SQLite has no JSON containment; the lists are stored as JSON arrays of strings.
    return models.Q(**{f"{field}__icontains": json.dumps(text)})


def is_postgresql(using: str) -> bool:
    """Whether database ``using`` is PostgreSQL: set-based JSON updates, row locks, notifications."""
    return connections[using].vendor == "postgresql"


def finished_condition(lookup: str, moment: Any, states: Iterable[str] = FINISHED_STATES) -> models.Q:
    """Jobs in one of ``states`` (finished ones) whose finish time compares with ``moment`` by
    ``lookup`` (``"lt"``: finished before it); ``ValueError`` for a state that is not finished."""
    condition = models.Q()
    for state in states:
        if state not in FINISHED_AT:
            raise ValueError(f"Only finished jobs can be pruned, not {state!r} ones.")
        condition |= models.Q(state=state, **{f"{FINISHED_AT[state]}__{lookup}": moment})
    return condition
