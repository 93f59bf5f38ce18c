"""Counts that stay fast on tables of millions of jobs: exact up to a bound, estimated beyond it.

Counting ten million finished jobs reads ten million index entries (about a second); the
admin shows counts on every page. A bounded count reads at most ``exact_up_to + 1`` rows
(``SELECT COUNT(*) FROM (… LIMIT n)``), so small sets (the jobs waiting, failing, running)
are counted exactly and quickly; a set past the bound takes PostgreSQL's planner estimate
(``EXPLAIN``), which follows the table's statistics, and is marked inexact. Other databases
count exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.db import models
from django.utils.formats import number_format

from .conditions import is_postgresql
from .states import JobState

#: Counts up to this are exact (reading as many index entries costs a few milliseconds).
EXACT_UP_TO = 100_000


class Count(int):
    """A count of jobs, an ``int``; ``exact`` is false when it is the planner's estimate of a count past the bound.

    It prints with thousands separators, an estimate with "≈" before it (``≈ 9,670,573``).
    """

    exact: bool

    def __new__(cls, value: int, exact: bool = True) -> Count:
        count = super().__new__(cls, value)
        count.exact = exact
        return count

    def __str__(self) -> str:
        figure = number_format(int(self), force_grouping=True)
        return figure if self.exact else f"≈ {figure}"

    def __repr__(self) -> str:
        return f"Count({int(self)}, exact={self.exact})"


def total(counts: Iterable[Count]) -> Count:
    """The sum of ``counts``, exact when every one of them is."""
    counts = list(counts)
    return Count(sum(counts), all(count.exact for count in counts))


def bounded_count(jobs: models.QuerySet[Any], exact_up_to: int | None = None) -> Count:
    """The count of ``jobs``: exact up to ``exact_up_to`` (``EXACT_UP_TO``), the planner's estimate beyond."""
    exact_up_to = EXACT_UP_TO if exact_up_to is None else exact_up_to
    jobs = jobs.order_by()
    if not is_postgresql(jobs.db):
        return Count(jobs.count())
    counted = jobs[: exact_up_to + 1].count()
    if counted <= exact_up_to:
        return Count(counted)
    return Count(max(estimated_count(jobs), counted), exact=False)


def estimated_count(jobs: models.QuerySet[Any]) -> int:
    """The number of rows PostgreSQL's planner expects ``jobs`` to return (no row is read)."""
    (plan,) = json.loads(jobs.order_by().explain(format="json"))
    return int(plan["Plan"]["Plan Rows"])


def bounded_counts_by_state(jobs: models.QuerySet[Any], exact_up_to: int | None = None) -> dict[str, Count]:
    """Every state, in ``JobState`` order, with the bounded count of the jobs of ``jobs`` in it."""
    return {state: bounded_count(jobs.filter(state=state), exact_up_to) for state in JobState.values}


def bounded_stats(jobs: Any) -> dict[str, dict[str, Count]]:
    """``JobQuerySet.stats()`` with bounded counts: ``{queue: {state: count}}`` for every queue with a job.

    A set PostgreSQL expects to hold at most ``EXACT_UP_TO`` jobs (one ``EXPLAIN``), and any set
    on another database, is counted exactly by ``stats()``, one ``GROUP BY``. A bigger one is
    counted a query per queue and state (and an ``EXPLAIN`` per count past the bound), each
    reading at most ``EXACT_UP_TO + 1`` index entries, where a ``GROUP BY`` reads every row.
    """
    if not is_postgresql(jobs.db) or estimated_count(jobs) <= EXACT_UP_TO:
        return {queue: {state: Count(count) for state, count in by_state.items()}
                for queue, by_state in jobs.stats().items()}
    counts = {queue: bounded_counts_by_state(jobs.filter(queue=queue)) for queue in jobs.queue_names()}
    return {queue: by_state for queue, by_state in counts.items() if any(by_state.values())}
