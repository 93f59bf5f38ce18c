"""Conditions on jobs that depend on the database's features: the tag filter, and which engine runs."""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.db import connections, models

from .changes import normalize_tags


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
    tag = normalized[0]
    if connections[using].features.supports_json_field_contains:
        return models.Q(tags__contains=[tag])  # the GIN index oban_jobs_tags on PostgreSQL
    # SQLite has no JSON containment; tags are stored as a JSON array of strings.
    return models.Q(tags__icontains=json.dumps(tag))


def is_postgresql(using: str) -> bool:
    """Whether database ``using`` is PostgreSQL: set-based JSON updates, row locks, notifications."""
    return connections[using].vendor == "postgresql"
