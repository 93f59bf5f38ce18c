"""Jobs from the rows a statement returns, built for less than the statement costs.

``update_many``, ``cancel_returning`` and ``retry_returning`` return every job they changed,
100,000 of them as readily as ten. Turned into jobs by Django's ``raw()``, the rows cost more
than the ``UPDATE`` itself: Django's timestamp loader for psycopg 3 is Python (psycopg's own
is C, five times faster), ``Model.__init__`` sets the fields one by one, and the objects built
set off full passes of the cyclic garbage collector again and again (1.5 s of 1.8 s for
100,000 jobs). ``returning_jobs`` gives the same jobs as ``raw()`` would, converted by the
same field converters, without those costs.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connections, models, transaction
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init

try:
    from psycopg.types import datetime as psycopg_datetime
except ImportError:  # psycopg 2, or no PostgreSQL driver at all
    psycopg_datetime = None  # type: ignore[assignment]

Converter = Callable[[Any], Any]
#: A field's database converter: ``(value, expression, connection) -> value``.
Step = Callable[[Any, Any, Any], Any]


def returning_jobs(model: type[models.Model], using: str, sql: str, params: Any) -> list[Any]:
    """Run ``sql`` (an ``UPDATE`` or ``DELETE`` of ``model``'s table) ``RETURNING`` every column; the rows as instances.

    The instances are those ``Model.from_db`` makes (``pre_init`` and ``post_init`` sent
    when anyone listens), in the order the database returned them.
    """
    connection = connections[using]
    fields = model._meta.concrete_fields
    columns = ", ".join(connection.ops.quote_name(str(field.column)) for field in fields)
    with _collector_paused(), transaction.mark_for_rollback_on_error(using=using), connection.cursor() as cursor:
        timestamp_steps = _native_timestamps(cursor.cursor, connection.timezone)
        cursor.execute(f"{sql} RETURNING {columns}", params)
        rows = cursor.fetchall()
        return _instances(model, using, rows, _converters(fields, connection, timestamp_steps))


def _instances(
    model: type[models.Model], using: str, rows: list[Any], convert: list[tuple[int, Converter]]
) -> list[Any]:
    names = [field.attname for field in model._meta.concrete_fields]
    signalled = pre_init.has_listeners(model) or post_init.has_listeners(model)
    instances = []
    for row in rows:
        values = list(row)
        for index, converter in convert:
            values[index] = converter(values[index])
        if signalled:
            pre_init.send(sender=model, args=tuple(values), kwargs={})
        instance = model.__new__(model)
        state = ModelState()
        state.adding, state.db = False, using
        instance.__dict__.update(zip(names, values, strict=True), _state=state)
        if signalled:
            post_init.send(sender=model, instance=instance)
        instances.append(instance)
    return instances


def _native_timestamps(cursor: Any, zone: Any) -> list[Step]:
    """Have psycopg 3's C loader decode this cursor's timestamps; the step giving them Django's
    ``zone`` (as Django's loader does) if they come in another, else none. Other drivers are left as they are."""
    adapters = getattr(cursor, "adapters", None)
    if psycopg_datetime is None or adapters is None:
        return []
    adapters.register_loader("timestamptz", psycopg_datetime.TimestamptzLoader)
    return [] if cursor.connection.info.timezone is zone else [_in_zone(zone)]


def _converters(fields: Any, connection: Any, timestamp_steps: list[Step]) -> list[tuple[int, Converter]]:
    """``(index, convert)`` for each column needing it: the field's database converters, as a query applies them."""
    found = []
    for index, field in enumerate(fields):
        column = field.get_col(field.model._meta.db_table)
        steps = [*connection.ops.get_db_converters(column), *field.get_db_converters(connection)]
        if isinstance(field, models.DateTimeField):
            steps = [*timestamp_steps, *steps]
        if steps:
            found.append((index, _converter(steps, column, connection, _plain_json(field))))
    return found


def _plain_json(field: Any) -> bool:
    return isinstance(field, models.JSONField) and field.decoder is None


def _in_zone(zone: Any) -> Step:
    def in_zone(value: Any, column: Any, connection: Any) -> Any:
        return value if value is None else value.replace(tzinfo=zone)

    return in_zone


def _converter(steps: list[Step], column: Any, connection: Any, plain_json: bool) -> Converter:
    if plain_json and len(steps) == 1:
        [decode] = steps

        def json_value(value: Any) -> Any:
            # Most of a job's JSON values are empty: those need no parsing.
            if value == "{}":
                return {}
            if value == "[]":
                return []
            return decode(value, column, connection)

        return json_value

    def convert(value: Any) -> Any:
        for step in steps:
            value = step(value, column, connection)
        return value

    return convert


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while the rows become instances: none of them is garbage,
    yet each few hundred allocated would have the collector walk them all again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
