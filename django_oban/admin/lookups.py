"""Change list filters the database cannot run, refused before any query.

Django's admin turns any field lookup in the query string into a filter, and some wrong
values are found only when the database rejects them, while the page renders: a 500. These
are refused first and answered like any other invalid filter, with Django's redirect to the
list (``?e=1``) and a message saying why:

- a NUL character (PostgreSQL text cannot hold one; no stored job has one either);
- a number beyond 64 bits on an integer column (SQLite overflows);
- anything but a field and one plain comparison (``exact``, ``in``, ``gte``, ``contains``…):
  no transforms, ranges or regular expressions, which fail in the database on bad values;
- JSON containment (``tags__contains``) on a database without it (SQLite).
"""

from __future__ import annotations

from django.contrib.admin.options import IS_POPUP_VAR, TO_FIELD_VAR
from django.contrib.admin.views.main import ALL_VAR, ERROR_FLAG, ORDER_VAR, PAGE_VAR, SEARCH_VAR
from django.db import connections, models

from ..models import Job
from .ids import beyond_bigint

#: Change list query parameters that do not narrow the list (``_facets`` is Django 5.0's IS_FACETS_VAR).
NOT_FILTERS = frozenset({ALL_VAR, ERROR_FLAG, IS_POPUP_VAR, ORDER_VAR, PAGE_VAR, TO_FIELD_VAR, "_facets"})

#: The comparisons a filter may use: those the list's filters and date links build, and their kin.
COMPARISONS = frozenset({"exact", "iexact", "in", "gt", "gte", "lt", "lte", "isnull",
                         "contains", "icontains", "startswith", "istartswith", "endswith", "iendswith"})
#: The names a filter can give an integer column by.
INTEGER_FIELDS = frozenset({"pk", *(field.name for field in Job._meta.get_fields()
                                    if isinstance(field, models.IntegerField))})
#: The JSON columns, which SQLite cannot filter by containment.
JSON_FIELDS = frozenset(field.name for field in Job._meta.get_fields() if isinstance(field, models.JSONField))


def refused_filter(name: str, values: list[str], using: str) -> str | None:
    """Why the jobs cannot be filtered by ``name=values`` (one query string parameter) on ``using``, or ``None``.

    The search (``q``) and the list's own parameters (page, ordering) are Django's to check.
    """
    if name == SEARCH_VAR or name in NOT_FILTERS:
        return None
    if "\x00" in name or any("\x00" in value for value in values):
        return "a NUL character is not allowed"
    field, *lookups = name.split("__")
    if len(lookups) > 1 or (lookups and lookups[0] not in COMPARISONS):
        return "only a field and a plain comparison (exact, in, gte, contains…) can filter jobs"
    if field in INTEGER_FIELDS and any(map(beyond_bigint, ",".join(values).split(","))):
        return "a number beyond 64 bits"
    containment = field in JSON_FIELDS and lookups == ["contains"]
    if containment and not connections[using].features.supports_json_field_contains:
        return "this database cannot filter JSON by containment"
    return None
