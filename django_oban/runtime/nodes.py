"""Node runs: registration, heartbeats, leadership, and the rescue of orphaned jobs.

A *run* is one worker process from start to exit: a row of ``oban_nodes`` (``Node``) with
the node's name, when it started and its last heartbeat. On PostgreSQL both timestamps and
every comparison use the database's clock, so the worker machines' clocks never matter.
SQLite (one worker process) uses Python's clock.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connections, models
from django.utils import timezone

from ..models import Job, Node
from ..states import JobState
from .database import is_postgres, quoted_table

#: Advisory lock key held by the leader node (any constant bigint).
LEADER_LOCK = 0x0BA_11EAD

_JOBS = quoted_table(Job)
_NODES = quoted_table(Node)

#: Executing jobs whose attempt started more than ``after`` seconds ago and whose run (the
#: latest run of ``attempted_by[-1]`` started at or before ``attempted_at``) has no row or
#: no heartbeat for ``after`` seconds go back to available, or are discarded when out of
#: attempts. Rows locked by someone else are left for the next round.
RESCUE_SQL = f"""
UPDATE {_JOBS} AS j
SET state = CASE WHEN j.attempt >= j.max_attempts THEN 'discarded' ELSE 'available' END,
    scheduled_at = CASE WHEN j.attempt >= j.max_attempts THEN j.scheduled_at ELSE now() END,
    discarded_at = CASE WHEN j.attempt >= j.max_attempts THEN now() ELSE j.discarded_at END,
    meta = j.meta || jsonb_build_object(
      'rescued', jsonb_build_object('at', now(), 'node', j.attempted_by -> -1, 'attempt', j.attempt)
    )
WHERE j.state = 'executing' AND j.id IN (
  SELECT o.id FROM {_JOBS} AS o
  LEFT JOIN LATERAL (
    SELECT n.heartbeat_at FROM {_NODES} AS n
    WHERE n.name = o.attempted_by ->> -1 AND n.started_at <= o.attempted_at
    ORDER BY n.started_at DESC
    LIMIT 1
  ) AS run ON true
  WHERE o.state = 'executing' AND o.attempted_at < now() - %(after)s * interval '1 second'
    AND (run.heartbeat_at IS NULL OR run.heartbeat_at < now() - %(after)s * interval '1 second')
  FOR UPDATE OF o SKIP LOCKED
)
"""


class TransactionNow(models.Func):
    """PostgreSQL's ``now()``: the start of the current transaction, as the claim writes it."""

    template = "now()"
    output_field = models.DateTimeField()


@dataclass(frozen=True)
class NodeRun:
    """This process's run of a node: its ``oban_nodes`` row."""

    id: int
    name: str
    started_at: datetime


def register(name: str, using: str = "default") -> NodeRun:
    """Record that a run of node ``name`` starts now; before it claims any job."""
    now = _now(using)
    node = Node.objects.using(using).create(name=name, started_at=now, heartbeat_at=now)
    started_at = Node.objects.using(using).values_list("started_at", flat=True).get(pk=node.pk)
    return NodeRun(node.pk, name, started_at)


def heartbeat(run: NodeRun, queues: dict[str, Any] | None = None, using: str = "default") -> None:
    """Record that ``run`` is alive (and how it runs its ``queues``); re-create its row if it was deleted meanwhile."""
    nodes = Node.objects.using(using)
    values = {"heartbeat_at": _now(using)} if queues is None else {"heartbeat_at": _now(using), "queues": queues}
    if not nodes.filter(pk=run.id).update(**values):
        nodes.create(id=run.id, name=run.name, started_at=run.started_at, **values)


def forget(run: NodeRun, using: str = "default") -> None:
    """Remove ``run``'s row on a clean shutdown."""
    Node.objects.using(using).filter(pk=run.id).delete()


def forget_dead(older_than: float, using: str = "default") -> int:
    """Delete the rows of runs without a heartbeat for ``older_than`` seconds (crashed nodes).

    Harmless for rescue, which treats a missing row like a stale one.
    """
    cutoff = _now(using) - timedelta(seconds=older_than)
    deleted, _ = Node.objects.using(using).filter(heartbeat_at__lt=cutoff).delete()
    return deleted


def rescue(rescue_after: float, using: str = "default") -> int:
    """Return orphaned executing jobs to available (or discard them when out of attempts).

    A job is orphaned when its attempt started more than ``rescue_after`` seconds ago and
    the run that claimed it has no row or no heartbeat for ``rescue_after`` seconds. Each
    rescued job records ``meta["rescued"] = {"at", "node", "attempt"}``.
    """
    if not is_postgres(using):
        return _rescue_portable(rescue_after, using)
    with connections[using].cursor() as cursor:
        cursor.execute(RESCUE_SQL, {"after": rescue_after})
        return int(cursor.rowcount)


def try_lead(using: str = "default") -> bool:
    """Take (or keep) the leader advisory lock on this thread's connection."""
    if not is_postgres(using):
        return True
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
            " AND objid::bigint = %s AND granted) OR pg_try_advisory_lock(%s)",
            [LEADER_LOCK & 0xFFFFFFFF, LEADER_LOCK],
        )
        return bool(cursor.fetchone()[0])


def _now(using: str) -> Any:
    """The current time as the database's clock on PostgreSQL, Python's elsewhere."""
    return TransactionNow() if is_postgres(using) else timezone.now()


def _rescue_portable(rescue_after: float, using: str) -> int:
    """``RESCUE_SQL`` one row at a time, for SQLite."""
    cutoff = timezone.now() - timedelta(seconds=rescue_after)
    runs: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for name, started_at, heartbeat_at in Node.objects.using(using).order_by("started_at").values_list(
        "name", "started_at", "heartbeat_at"
    ):
        runs[name].append((started_at, heartbeat_at))
    candidates = Job.objects.using(using).filter(state=JobState.EXECUTING, attempted_at__lt=cutoff)
    rescued = 0
    for job in candidates.only("id", "attempt", "max_attempts", "attempted_at", "attempted_by", "meta"):
        node = job.attempted_by[-1] if job.attempted_by else None
        beat = _heartbeat_of_run(runs.get(node, []) if node else [], job.attempted_at)
        if beat is None or beat < cutoff:
            rescued += _rescue_one(job, node, using)
    return rescued


def _heartbeat_of_run(runs: list[tuple[datetime, datetime]], attempted_at: datetime | None) -> datetime | None:
    """The heartbeat of the latest of ``runs`` (by start) started at or before ``attempted_at``."""
    if attempted_at is None:
        return None
    index = bisect.bisect_right([started_at for started_at, _ in runs], attempted_at)
    return runs[index - 1][1] if index else None


def _rescue_one(job: Job, node: Any, using: str) -> int:
    now = timezone.now()
    out_of_attempts = job.attempt >= job.max_attempts
    values: dict[str, Any] = {
        "state": JobState.DISCARDED if out_of_attempts else JobState.AVAILABLE,
        "meta": {**job.meta, "rescued": {"at": now.isoformat(), "node": node, "attempt": job.attempt}},
    }
    if out_of_attempts:
        values["discarded_at"] = now
    else:
        values["scheduled_at"] = now
    return (
        Job.objects.using(using)
        .filter(pk=job.pk, state=JobState.EXECUTING, attempt=job.attempt)
        .update(**values)
    )
