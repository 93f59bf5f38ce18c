"""The insert of new jobs in one statement on PostgreSQL, for ``JobQuerySet.insert_all`` alone to call."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.db import connections, models, transaction


def insert_returning_ids(jobs: list[Any], using: str) -> None:
    """Insert new, validated ``jobs`` in one PostgreSQL statement; set each one's id, as ``bulk_create`` does.

    Many jobs: ``INSERT … SELECT … FROM jsonb_populate_recordset(NULL::<table>, %s) RETURNING id``,
    the rows as one JSON document (one C-encoded string; psycopg's client-side binding quotes
    a ``text[]`` or ``timestamptz[]`` parameter element by element, in Python), typed by the
    table's own row type, inserted and returned in the order of ``jobs``. One job: a plain
    ``INSERT … VALUES``, which PostgreSQL plans faster. Either every job has an id (it is
    inserted) or none has (the sequence gives them).
    """
    connection = connections[using]
    meta = jobs[0]._meta
    fields = [field for field in meta.concrete_fields if field is not meta.pk or jobs[0].pk is not None]
    quote = connection.ops.quote_name
    table, columns = quote(meta.db_table), ", ".join(quote(field.column) for field in fields)
    if len(jobs) == 1:
        source, param = f"VALUES ({', '.join(['%s'] * len(fields))})", _row_values(jobs[0], fields)
    else:
        source = f"SELECT {columns} FROM jsonb_populate_recordset(NULL::{table}, %s::jsonb)"
        param = [_rows(jobs, fields)]
    with transaction.mark_for_rollback_on_error(using=using), connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({columns}) {source} RETURNING {quote(meta.pk.column)}", param)
        ids = cursor.fetchall()
    for job, (pk,) in zip(jobs, ids, strict=True):
        job.pk = pk
        job._state.adding = False
        job._state.db = using


def _row_values(job: Any, fields: list[Any]) -> list[Any]:
    """The parameters of one job's row: JSON columns as JSON text, the others as they are."""
    values = [getattr(job, field.attname) for field in fields]
    return [
        json.dumps(value, ensure_ascii=False) if value is not None and isinstance(field, models.JSONField) else value
        for field, value in zip(fields, values, strict=True)
    ]


def _rows(jobs: list[Any], fields: list[Any]) -> str:
    """The JSON document of the rows of ``jobs``: an object per job, by column name."""
    names = [(field.column, field.attname) for field in fields]
    # A column left out of a row's object is NULL: the document carries only the values set.
    rows = [{column: value for column, name in names if (value := job.__dict__[name]) is not None} for job in jobs]
    return json.dumps(rows, default=_timestamp, ensure_ascii=False)


def _timestamp(value: Any) -> str:
    """A datetime column's value as PostgreSQL reads it (ISO 8601; naive: in the session's time zone)."""
    if not isinstance(value, datetime):
        raise TypeError(f"{type(value).__name__} is not a column value of a job")
    return value.isoformat()
