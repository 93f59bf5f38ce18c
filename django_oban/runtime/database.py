"""The runtime's statements: claim, acknowledge, stage, rescue, heartbeat."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import connections, transaction
from django.utils import timezone

from ..models import Job, Node
from ..states import JobState
from .execution import Outcome, write_outcome

_COLUMNS = ", ".join(str(field.column) for field in Job._meta.concrete_fields)

CLAIM_SQL = f"""
UPDATE oban_jobs
SET state = 'executing', attempt = attempt + 1, attempted_at = now(),
    attempted_by = attempted_by || jsonb_build_array(%s::text),
    max_attempts = GREATEST(max_attempts, attempt + 1)
WHERE id IN (
  SELECT id FROM oban_jobs
  WHERE state = 'available' AND queue = %s
  ORDER BY priority, scheduled_at, id
  LIMIT %s
  FOR UPDATE SKIP LOCKED
)
RETURNING {_COLUMNS}
"""

ACK_COMPLETED_SQL = """
UPDATE oban_jobs AS j SET state = 'completed', completed_at = now()
FROM unnest(%s::bigint[], %s::int[]) AS a(id, attempt)
WHERE j.id = a.id AND j.attempt = a.attempt AND j.state = 'executing'
"""

#: Advisory lock key held by the leader node (any constant bigint).
LEADER_LOCK = 0x0BA_11EAD


def is_postgres(using: str = "default") -> bool:
    return connections[using].vendor == "postgresql"


def claim(queue: str, limit: int, node: str, using: str = "default") -> list[Job]:
    """Mark up to ``limit`` available jobs of ``queue`` executing for ``node`` and return them."""
    if limit <= 0:
        return []
    if is_postgres(using):
        jobs = list(Job.objects.db_manager(using).raw(CLAIM_SQL, [node, queue, limit]))
        jobs.sort(key=lambda job: (job.priority, job.scheduled_at, job.pk))  # RETURNING has no order
        return jobs
    return _claim_portable(queue, limit, node, using)


def _claim_portable(queue: str, limit: int, node: str, using: str) -> list[Job]:
    """Claim on databases without ``SKIP LOCKED`` (SQLite: one worker process)."""
    now = timezone.now()
    with transaction.atomic(using=using):
        jobs = list(
            Job.objects.using(using)
            .filter(state=JobState.AVAILABLE, queue=queue)
            .order_by("priority", "scheduled_at", "id")[:limit]
        )
        for job in jobs:
            job.state = JobState.EXECUTING
            job.attempt += 1
            job.max_attempts = max(job.max_attempts, job.attempt)
            job.attempted_at = now
            job.attempted_by = [*job.attempted_by, node]
            Job.objects.using(using).filter(pk=job.pk, state=JobState.AVAILABLE).update(
                state=job.state,
                attempt=job.attempt,
                max_attempts=job.max_attempts,
                attempted_at=now,
                attempted_by=job.attempted_by,
            )
    return jobs


def acknowledge(outcomes: list[Outcome], using: str = "default") -> None:
    """Write outcomes: plain completions in one guarded statement, the rest one by one."""
    plain = [outcome for outcome in outcomes if outcome.is_plain_completion]
    if plain and is_postgres(using):
        with connections[using].cursor() as cursor:
            cursor.execute(ACK_COMPLETED_SQL, [[o.job.pk for o in plain], [o.job.attempt for o in plain]])
    elif plain:
        now = timezone.now()
        with transaction.atomic(using=using):
            for outcome in plain:
                Job.objects.using(using).filter(
                    pk=outcome.job.pk, state=JobState.EXECUTING, attempt=outcome.job.attempt
                ).update(state=JobState.COMPLETED, completed_at=now)
    for outcome in outcomes:
        if not outcome.is_plain_completion:
            write_outcome(outcome, using)


def stage(using: str = "default") -> int:
    """Make scheduled and retryable jobs that have come due available."""
    return (
        Job.objects.using(using)
        .filter(state__in=[JobState.SCHEDULED, JobState.RETRYABLE], scheduled_at__lte=timezone.now())
        .update(state=JobState.AVAILABLE)
    )


def heartbeat(node: str, using: str = "default") -> None:
    """Record that ``node`` is alive."""
    Node.objects.using(using).update_or_create(name=node, defaults={"heartbeat_at": timezone.now()})


def forget_node(node: str, using: str = "default") -> None:
    """Remove ``node``'s heartbeat row on a clean shutdown."""
    Node.objects.using(using).filter(name=node).delete()


def rescue(rescue_after: float, using: str = "default") -> int:
    """Return executing jobs of nodes silent for ``rescue_after`` seconds to available (or discard).

    A job counts as orphaned when the node of its current attempt has no heartbeat newer
    than the cutoff and the attempt itself started before it.
    """
    cutoff = timezone.now() - timedelta(seconds=rescue_after)
    alive = set(Node.objects.using(using).filter(heartbeat_at__gte=cutoff).values_list("name", flat=True))
    candidates = Job.objects.using(using).filter(state=JobState.EXECUTING, attempted_at__lt=cutoff)
    rescued = 0
    for job in candidates.only("id", "attempt", "max_attempts", "attempted_by", "meta"):
        node = job.attempted_by[-1] if job.attempted_by else None
        if node in alive:
            continue
        rescued += _rescue_one(job, node, using)
    return rescued


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
