"""The insert of new jobs in one statement on PostgreSQL, for ``JobQuerySet.insert_prepared`` alone to call."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import psycopg
from django.db import connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper

_JSON = json.JSONEncoder(ensure_ascii=False)


@dataclass(frozen=True)
class Columns:
    """The columns a new row of a model is inserted with, and the SQL that names and types them."""

    #: The fields, each a column: all concrete fields, the primary key only if given.
    fields: list[Any]
    #: Per field: it is a JSON field (its values are sent as JSON text).
    json: list[bool]
    #: ``INSERT INTO <table> (<columns>)``.
    insert: str
    #: ``RETURNING <primary key>``.
    returning: str
    #: Per field: ``%s::<type>``, its value as one parameter.
    scalars: list[str]
    #: Per field: ``%s::<type>[]``, its values as one array parameter (JSON as text).
    arrays: list[str]


_columns: dict[tuple[type[models.Model], str, bool], Columns] = {}


def insert_returning_ids(jobs: list[Any], using: str) -> None:
    """Insert new, validated ``jobs`` in one PostgreSQL statement; set each one's id, as ``bulk_create`` does.

    ``INSERT … SELECT … FROM unnest(%s::<type>[], …) RETURNING id``: a column whose value is
    the same in every job (most of them in a batch of one worker's jobs) is one parameter, the
    others one array each, bound server-side in binary (Django's cursor binds client-side, and
    psycopg then quotes an array element by element, in Python). Rows are inserted and
    returned in the order of ``jobs``. One job: a plain ``INSERT … VALUES``. Either every job
    has an id (it is inserted) or none has (the sequence gives them).
    """
    connection = connections[using]
    columns = _columns_of(type(jobs[0]), connection, with_pk=jobs[0].pk is not None)
    if len(jobs) == 1:
        row = jobs[0].__dict__
        source = f"VALUES ({', '.join(columns.scalars)})"
        params = [
            _json_text(row[field.attname]) if is_json else row[field.attname]
            for field, is_json in zip(columns.fields, columns.json, strict=True)
        ]
    else:
        source, params = _unnest_source(jobs, columns)
    with transaction.mark_for_rollback_on_error(using=using), _binding_cursor(connection) as cursor:
        cursor.execute(f"{columns.insert} {source} {columns.returning}", params)
        ids = cursor.fetchall()
    for job, (pk,) in zip(jobs, ids, strict=True):
        job.pk = pk
        job._state.adding = False
        job._state.db = using


def _columns_of(model: type[models.Model], connection: BaseDatabaseWrapper, *, with_pk: bool) -> Columns:
    """The ``Columns`` of ``model`` on ``connection``'s engine (worked out once per model and engine)."""
    key = (model, connection.vendor, with_pk)
    found = _columns.get(key)
    if found is None:
        meta = model._meta
        fields = [field for field in meta.concrete_fields if field is not meta.pk or with_pk]
        quote = connection.ops.quote_name
        json_fields = [isinstance(field, models.JSONField) for field in fields]
        types = [field.db_type(connection) for field in fields]
        found = _columns[key] = Columns(
            fields=fields,
            json=json_fields,
            insert=f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(str(field.column)) for field in fields)})",
            returning=f"RETURNING {quote(str(meta.pk.column))}",
            scalars=[f"%s::{db_type}" for db_type in types],
            arrays=[
                f"%s::{'text' if is_json else db_type}[]" for db_type, is_json in zip(types, json_fields, strict=True)
            ],
        )
    return found


def _binding_cursor(connection: BaseDatabaseWrapper) -> CursorWrapper:
    """A cursor of ``connection`` (Django's wrapper: errors, query logging, execute wrappers)
    whose parameters psycopg binds server-side, in binary where it can. With the connection's
    ``prepare_threshold`` set (Django's ``OPTIONS``; off by default) psycopg prepares a statement
    run that often, as it cannot with Django's client-side binding. For statements that return
    no timestamps: it has not Django's time zone loader."""
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        raw: Any = psycopg.Cursor(connection.connection)
    return connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)


def _unnest_source(jobs: list[Any], columns: Columns) -> tuple[str, list[Any]]:
    """``SELECT <column values> FROM unnest(<arrays>)`` for the rows of ``jobs``, and its parameters."""
    selected: list[str] = []
    scalars: list[Any] = []
    arrays: list[str] = []
    lists: list[list[Any]] = []
    rows = [job.__dict__ for job in jobs]
    for number, field in enumerate(columns.fields):
        values = [row[field.attname] for row in rows]
        if columns.json[number]:
            values = _json_texts(values)
        if values.count(values[0]) == len(values):
            selected.append(columns.scalars[number])
            scalars.append(values[0])
            continue
        name = f"c{len(arrays)}"
        selected.append(f"{name}::jsonb" if columns.json[number] else name)
        arrays.append(columns.arrays[number])
        lists.append(values)
    if not arrays:
        return f"SELECT {', '.join(selected)} FROM generate_series(1, %s)", [*scalars, len(jobs)]
    names = ", ".join(f"c{number}" for number in range(len(arrays)))
    source = f"SELECT {', '.join(selected)} FROM unnest({', '.join(arrays)}) AS rows ({names})"
    return source, [*scalars, *lists]


def _json_texts(values: list[Any]) -> list[str | None]:
    """The texts of a JSON column's (validated) values; NULL or one empty value everywhere is encoded once."""
    first = values[0]
    if (first is None or (not first and type(first) in (dict, list))) and values.count(first) == len(values):
        return [_json_text(first)] * len(values)
    return [_json_text(value) for value in values]


def _json_text(value: Any) -> str | None:
    """A JSON column's value as the text sent (``None``: SQL NULL)."""
    if value is None:
        return None
    if not value and type(value) in (dict, list):
        return "{}" if type(value) is dict else "[]"
    return _JSON.encode(value)
