"""The change list's filters: queue, worker and priority, listing their values without scanning
the table (``JobQuerySet.queue_names()`` / ``worker_names()``), and unique and cron jobs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import Field, Model, QuerySet
from django.http import HttpRequest

from ..changes import PRIORITY_RANGE
from ..cron.entries import CronConfigError, configured_entries
from ..models import Job
from ..unique import counting


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
        return Job.objects.db_manager(self.using).queue_names()


class WorkerFilter(ListedValuesFilter):
    """Filter by worker, listing the workers that have jobs."""

    def values(self) -> list[Any]:
        return Job.objects.db_manager(self.using).worker_names()


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
