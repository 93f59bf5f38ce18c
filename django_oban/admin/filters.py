"""The change list's filters: queue, worker and priority, listing their values without scanning
the table, and unique and cron jobs.

``SELECT DISTINCT`` reads every row; these recursive queries jump from one value to the next
along an index (a "skip scan"), a few index probes per value.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db import connections
from django.db.models import Field, Model, QuerySet
from django.http import HttpRequest

from ..changes import PRIORITY_RANGE
from ..cron.entries import CronConfigError, configured_entries
from ..models import Job
from ..states import JobState
from ..unique import counting


def distinct_workers(using: str) -> list[str]:
    """Every worker path in ``oban_jobs``, sorted: one index probe per worker (``oban_jobs_worker``)."""
    connection = connections[using]
    table, worker = connection.ops.quote_name(Job._meta.db_table), connection.ops.quote_name("worker")
    sql = (
        f"WITH RECURSIVE oban_workers(worker) AS ("
        f" SELECT MIN({worker}) FROM {table}"
        f" UNION ALL"
        f" SELECT (SELECT MIN({worker}) FROM {table} WHERE {worker} > oban_workers.worker)"
        f" FROM oban_workers WHERE oban_workers.worker IS NOT NULL"
        f") SELECT worker FROM oban_workers WHERE worker IS NOT NULL"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]


def distinct_queues(using: str) -> list[str]:
    """Every queue in ``oban_jobs``, sorted: one index probe per (state, queue) pair (``oban_jobs_state_queue``)."""
    connection = connections[using]
    quote = connection.ops.quote_name
    table, state, queue = quote(Job._meta.db_table), quote("state"), quote("queue")
    states = " UNION ALL ".join(["SELECT %s AS state"] * len(JobState.values))
    sql = (
        f"WITH RECURSIVE oban_queues(state, queue) AS ("
        f" SELECT states.state, (SELECT MIN({queue}) FROM {table} WHERE {state} = states.state)"
        f" FROM ({states}) AS states"
        f" UNION ALL"
        f" SELECT oban_queues.state, (SELECT MIN({queue}) FROM {table}"
        f"  WHERE {state} = oban_queues.state AND {queue} > oban_queues.queue)"
        f" FROM oban_queues WHERE oban_queues.queue IS NOT NULL"
        f") SELECT DISTINCT queue FROM oban_queues WHERE queue IS NOT NULL ORDER BY queue"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, JobState.values)
        return [row[0] for row in cursor.fetchall()]


class ListedValuesFilter(admin.AllValuesFieldListFilter):
    """Django's all-values filter, with the values from a cheap source instead of ``SELECT DISTINCT``."""

    def __init__(self, field: Field[Any, Any], request: HttpRequest, params: dict[str, Any], model: type[Model],
                 model_admin: admin.ModelAdmin[Any], field_path: str) -> None:
        super().__init__(field, request, params, model, model_admin, field_path)
        self.using = model_admin.get_queryset(request).db

    def values(self) -> list[Any]:
        """The values to offer, sorted."""
        raise NotImplementedError

    def choices(self, changelist: ChangeList) -> Iterator[Any]:
        # Looked up only when the filter is shown (not when an action is posted).
        self.lookup_choices = self.values()  # type: ignore[assignment]  # Django iterates any list
        yield from super().choices(changelist)


class QueueFilter(ListedValuesFilter):
    """Filter by queue, listing the queues that hold jobs."""

    def values(self) -> list[Any]:
        return distinct_queues(self.using)


class WorkerFilter(ListedValuesFilter):
    """Filter by worker, listing the workers that have jobs."""

    def values(self) -> list[Any]:
        return distinct_workers(self.using)


class PriorityFilter(ListedValuesFilter):
    """Filter by priority, listing 0 to 9 without a query."""

    def values(self) -> list[Any]:
        return list(PRIORITY_RANGE)


class UniqueFilter(admin.SimpleListFilter):
    """Unique jobs (with a unique key), those of them that count as duplicates now, or the others."""

    title = "unique"
    parameter_name = "unique"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [("yes", "Unique"), ("counting", "Unique, counting now"), ("no", "Not unique")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(unique_key__isnull=False)
        if self.value() == "counting":
            return counting(queryset)
        if self.value() == "no":
            return queryset.filter(unique_key__isnull=True)
        return queryset


class CronFilter(admin.SimpleListFilter):
    """Jobs inserted by a cron entry (``meta`` has the key ``cron``), the others, or those of one expression.

    The expressions offered are those of ``OBAN["CRON"]`` (none while it is invalid); any
    expression given in the URL filters by ``meta["cron"]``.
    """

    title = "cron"
    parameter_name = "cron"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        try:
            expressions = dict.fromkeys(entry.expression for entry in configured_entries())
        except CronConfigError:
            expressions = {}
        return [("yes", "Cron jobs"), ("no", "Not cron jobs"), *((expr, expr) for expr in expressions)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value == "yes":
            return queryset.filter(meta__has_key="cron")
        if value == "no":
            return queryset.exclude(meta__has_key="cron")
        if value is not None:
            return queryset.filter(meta__cron=value)
        return queryset
