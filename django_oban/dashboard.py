"""What the admin's dashboard shows, read in a few queries that stay fast on millions of jobs.

``snapshot(jobs)`` answers, for a set of jobs (filtered by queue or worker, or all of them):

- the count of jobs by queue and state: one ``GROUP BY`` on the ``(state, queue)`` index;
- the executing jobs by node and queue: the executing jobs only (as many as the queues' limits);
- the jobs finished in each of the last 60 minutes, by state, and the 95th percentile of their
  run time and queue time by queue and by worker: the rows finished within the hour, found by
  the partial indexes on ``completed_at``, ``discarded_at`` and ``cancelled_at`` (the ones
  pruning uses), whatever the size of the table.

PostgreSQL computes the percentiles (``percentile_cont``); other databases get the hour's
durations and compute them here.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import models
from django.db.models.functions import Mod, TruncMinute
from django.utils import timezone

from .conditions import finished_condition, is_postgresql, node_condition
from .counting import Count, bounded_stats
from .querysets import JobQuerySet
from .states import FINISHED_AT, FINISHED_STATES

#: How far back the throughput and timings look.
WINDOW = timedelta(hours=1)
#: The percentile of run and queue times shown.
PERCENTILE = 0.95
#: How many durations PostgreSQL sorts, at most about, for a percentile (see ``timings()``).
SAMPLE = 20_000


class Percentile(models.Aggregate):
    """PostgreSQL's ``percentile_cont(PERCENTILE)`` of a duration."""

    template = f"percentile_cont({PERCENTILE}) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = models.DurationField()


@dataclass
class Timing:
    """The 95th percentile run time and queue time of a queue's or a worker's jobs finished within the hour."""

    name: str
    finished: int
    run_time: timedelta | None
    queue_time: timedelta | None


@dataclass
class Snapshot:
    """Everything the dashboard draws, as of ``now``."""

    now: datetime
    counts: dict[str, dict[str, Count]]
    running: dict[str, dict[str, int]]
    throughput: list[tuple[datetime, dict[str, int]]]
    by_queue: list[Timing] = field(default_factory=list)
    by_worker: list[Timing] = field(default_factory=list)


def snapshot(jobs: JobQuerySet, *, node: str | None = None, now: datetime | None = None) -> Snapshot:
    """What the dashboard shows of ``jobs``; ``node`` narrows the running and finished jobs to those it ran."""
    now = now or timezone.now()
    recent = finished_since(jobs, now - WINDOW)
    if node:
        recent = recent.filter(node_condition(node, jobs.db))
    running = running_by_node(jobs.executing().order_by().values_list("queue", "attempted_by"), node)
    per_minute = throughput(recent, now)
    by_queue, by_worker = timings(recent, sum(sum(counts.values()) for _, counts in per_minute))
    return Snapshot(now=now, counts=bounded_stats(jobs), running=running, throughput=per_minute,
                    by_queue=by_queue, by_worker=by_worker)


def finished_since(jobs: JobQuerySet, since: datetime) -> JobQuerySet:
    """The jobs of ``jobs`` finished at or after ``since``, annotated with ``finished_at``, ``run_time``
    and ``queue_time``."""
    condition = finished_condition("gte", since)
    finished_at = models.Case(*(models.When(state=state, then=models.F(FINISHED_AT[state]))
                                for state in FINISHED_STATES), output_field=models.DateTimeField())
    recent: JobQuerySet = jobs.filter(condition).order_by().annotate(
        finished_at=finished_at,
        run_time=models.ExpressionWrapper(models.F("finished_at") - models.F("attempted_at"),
                                          output_field=models.DurationField()),
        queue_time=models.ExpressionWrapper(models.F("attempted_at") - models.F("scheduled_at"),
                                            output_field=models.DurationField()),
    )
    return recent


def running_by_node(rows: Iterable[tuple[str, Any]], node: str | None) -> dict[str, dict[str, int]]:
    """``{node: {queue: count}}`` of executing jobs given as ``(queue, attempted_by)``.

    A job runs on the node of its last attempt (``attempted_by[-1]``).
    """
    running: dict[str, Counter[str]] = defaultdict(Counter)
    for queue, attempted_by in rows:
        name = attempted_by[-1] if isinstance(attempted_by, list) and attempted_by else "(unknown)"
        if not node or name == node:
            running[str(name)][queue] += 1
    return {name: dict(sorted(queues.items())) for name, queues in sorted(running.items())}


def throughput(recent: JobQuerySet, now: datetime) -> list[tuple[datetime, dict[str, int]]]:
    """Jobs finished in each of the last 60 minutes (oldest first), by finished state; one query."""
    rows = recent.annotate(minute=TruncMinute("finished_at")).values_list("minute", "state") \
        .annotate(count=models.Count("pk"))
    counts: dict[datetime, dict[str, int]] = defaultdict(dict)
    for minute, state, count in rows:
        counts[minute][state] = count
    last = (timezone.localtime(now) if timezone.is_aware(now) else now).replace(second=0, microsecond=0)
    minutes = [last - timedelta(minutes=back) for back in range(int(WINDOW.total_seconds() // 60) - 1, -1, -1)]
    return [(minute, {state: counts[minute].get(state, 0) for state in FINISHED_STATES}) for minute in minutes]


def timings(recent: JobQuerySet, finished: int) -> tuple[list[Timing], list[Timing]]:
    """The p95 run and queue times of the hour's ``finished`` jobs by queue and by worker (attempted jobs only).

    On PostgreSQL, beyond ``SAMPLE`` jobs the percentiles are those of one job in ``k`` (by id),
    about ``SAMPLE`` jobs: sorting a busy hour's every duration would take seconds.
    """
    attempted = recent.filter(attempted_at__isnull=False)
    if is_postgresql(recent.db):
        step = math.ceil(finished / SAMPLE)
        sampled = attempted.alias(sample=Mod("id", step)) if step > 1 else attempted
        sample = models.Q(sample=0) if step > 1 else None
        aggregates = {"finished": models.Count("pk"), "run_p95": Percentile("run_time", filter=sample),
                      "queue_p95": Percentile("queue_time", filter=sample)}
        return (
            [Timing(*row) for row in sampled.values_list("queue").annotate(**aggregates).order_by("queue")],
            [Timing(*row) for row in sampled.values_list("worker").annotate(**aggregates).order_by("worker")],
        )
    samples: dict[tuple[int, str], list[tuple[timedelta, timedelta]]] = defaultdict(list)
    for queue, worker, run_time, queue_time in attempted.values_list("queue", "worker", "run_time", "queue_time"):
        samples[0, queue].append((run_time, queue_time))
        samples[1, worker].append((run_time, queue_time))
    grouped: tuple[list[Timing], list[Timing]] = ([], [])
    for (kind, name), durations in sorted(samples.items()):
        grouped[kind].append(Timing(name, len(durations), percentile([run for run, _ in durations]),
                                    percentile([wait for _, wait in durations])))
    return grouped


def percentile(durations: list[timedelta], fraction: float = PERCENTILE) -> timedelta | None:
    """The ``fraction`` percentile of ``durations``, interpolated as PostgreSQL's ``percentile_cont`` does."""
    if not durations:
        return None
    ordered = sorted(durations)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

