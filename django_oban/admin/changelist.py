"""The job list: its columns, the counts by state above it, a paginator that reuses them, and search.

Built to stay fast on tens of millions of jobs: counts are bounded (``django_oban.counting``:
exact up to 100,000, the planner's estimate beyond, shown with "≈"), the counts by state also
give the paginator its total when the list is unfiltered or filtered by state alone, and a
search (``django_oban.search``) filters on indexed columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import SEARCH_VAR, ChangeList
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import models
from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html

from ..counting import Count, bounded_count, bounded_counts_by_state, total
from ..models import Job
from ..querysets import JobQuerySet
from ..search import search_condition
from ..states import JobState
from .lookups import NOT_FILTERS, refused_filter
from .permissions import JobModelAdmin

#: Badge colours by state.
STATE_COLOURS: dict[str, str] = {
    JobState.AVAILABLE: "#2b7bb9",
    JobState.SCHEDULED: "#6f42c1",
    JobState.EXECUTING: "#d08700",
    JobState.RETRYABLE: "#c2410c",
    JobState.COMPLETED: "#2e7d32",
    JobState.DISCARDED: "#b91c1c",
    JobState.CANCELLED: "#6b7280",
}

def job_list_url(**equal: str) -> str:
    """The job list's URL, narrowed to the jobs whose fields have these values (``queue="mailers"``:
    ``…/job/?queue__exact=mailers``)."""
    url = reverse("admin:django_oban_job_changelist")
    query = urlencode({f"{name}__exact": value for name, value in equal.items()})
    return f"{url}?{query}" if query else url


#: A filtered list is counted exactly up to this many jobs (a tenth of the counts by state's
#: bound: on a wide filter PostgreSQL then plans a scan that stops early, not a bitmap of every match).
LIST_EXACT_UP_TO = 10_000


class StateCounts:
    """The bounded count of jobs in each state, a query per state, run when first needed.

    Iterating gives ``(state, count, URL of the list filtered to that state)`` for every state.
    """

    def __init__(self, jobs: JobQuerySet) -> None:
        self.jobs = jobs

    @cached_property
    def by_state(self) -> dict[str, Count]:
        """Every state, with its count of jobs."""
        return bounded_counts_by_state(self.jobs)

    def __iter__(self) -> Iterator[tuple[str, Count, str]]:
        return iter([(state, count, job_list_url(state=state)) for state, count in self.by_state.items()])


class StateCountingPaginator(Paginator):  # type: ignore[type-arg]
    """The change list's paginator; it holds the counts by state shown above the list.

    ``known_count`` is the total when the counts by state already tell it, so the table is
    counted once per page, not twice; otherwise the list is counted with a bound. ``counted``
    says whether the total is exact (the page shows "≈" when it is not).
    """

    def __init__(self, *args: Any, state_counts: StateCounts, known_count: Count | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state_counts = state_counts
        self.known_count = known_count

    @cached_property
    def counted(self) -> Count:
        """The total of the list, exact or estimated."""
        if self.known_count is not None:
            return self.known_count
        return bounded_count(self.object_list, exact_up_to=LIST_EXACT_UP_TO)  # type: ignore[arg-type]

    @cached_property
    def count(self) -> int:
        return int(self.counted)


def state_filtered(request: HttpRequest) -> tuple[bool, str | None]:
    """Whether the list asked for shows every job or the jobs of one state only, and that state.

    ``(True, None)``: every job; ``(True, "discarded")``: only discarded ones; ``(False, None)``:
    other filters or a search apply. Read from the query string of a GET (a posted action
    counts its own selection).
    """
    if request.method != "GET":
        return False, None
    filters = {name: request.GET.getlist(name) for name in request.GET if name not in NOT_FILTERS}
    if not "".join(filters.get(SEARCH_VAR, [])).strip():
        filters.pop(SEARCH_VAR, None)
    if not filters:
        return True, None
    states = filters.get("state__exact", [])
    return (True, states[0]) if len(filters) == 1 and len(states) == 1 else (False, None)


class JobChangeList(ChangeList):
    """Django's change list, where a filter the database cannot run is an incorrect lookup.

    Such a filter (``?id__in=99999999999999999999``, ``?queue__exact=a%00b``; see ``lookups.py``)
    sends the user back to the list (``?e=1``, as Django does for any invalid value), saying why.
    """

    def get_queryset(self, request: HttpRequest, *args: Any, **kwargs: Any) -> models.QuerySet[Any]:
        for name, values in request.GET.lists():
            reason = refused_filter(name, values, self.root_queryset.db)
            if reason is not None:
                self.model_admin.message_user(request, f"Jobs cannot be filtered by {name!r}: {reason}.",
                                              messages.ERROR)
                raise IncorrectLookupParameters(f"{name}: {reason}")
        return super().get_queryset(request, *args, **kwargs)


class JobListMixin(JobModelAdmin):
    """The job list: columns, search, and the paginator that knows the counts by state."""

    @admin.display(description="worker", ordering="worker")
    def short_worker(self, job: Job) -> str:
        return format_html('<span title="{}">{}</span>', job.worker, job.worker.rsplit(".", 1)[-1])

    @admin.display(description="state", ordering="state")
    def state_badge(self, job: Job) -> str:
        colour = STATE_COLOURS.get(job.state, "#444")
        return format_html('<span class="oban-badge" style="background:{}">{}</span>', colour, job.state)

    @admin.display(description="attempt")
    def attempts(self, job: Job) -> str:
        return f"{job.attempt}/{job.max_attempts}"

    @admin.display(description="finished")
    def finished_at(self, job: Job) -> Any:
        return job.completed_at or job.cancelled_at or job.discarded_at

    @admin.display(description="tags")
    def tag_list(self, job: Job) -> str:
        return ", ".join(job.tags)

    def get_search_results(
        self, request: HttpRequest, queryset: models.QuerySet[Job], search_term: str
    ) -> tuple[models.QuerySet[Job], bool]:
        """The jobs the search finds (see ``django_oban.search``); none, and a message saying why, for a bad one."""
        if not search_term.strip():
            return queryset, False
        try:
            workers = Job.objects.db_manager(queryset.db).worker_names
            condition = search_condition(search_term, using=queryset.db, workers=workers)
        except ValidationError as exc:
            self.message_user(request, f"Cannot search for {search_term!r}: {' '.join(exc.messages)}", messages.ERROR)
            return queryset.none(), False
        return queryset.filter(condition), False

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[JobChangeList]:
        return JobChangeList

    def get_paginator(self, request: HttpRequest, queryset: models.QuerySet[Job], per_page: int, orphans: int = 0,
                      allow_empty_first_page: bool = True) -> StateCountingPaginator:
        """A paginator taking its total from the counts by state when the list is unfiltered or filtered by state."""
        state_counts = StateCounts(self.get_queryset(request))  # type: ignore[arg-type]
        known_count = None
        counted, state = state_filtered(request)
        if counted:
            by_state = state_counts.by_state
            known_count = by_state.get(state, Count(0)) if state is not None else total(by_state.values())
        return StateCountingPaginator(queryset, per_page, orphans, allow_empty_first_page,
                                      state_counts=state_counts, known_count=known_count)
