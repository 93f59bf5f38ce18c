"""The runtime's job statements: claim, acknowledge, release lost claims, stage.

Node runs, heartbeats, leadership and rescue are in ``nodes``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import connections, transaction
from django.utils import timezone

from ..models import Job, Node
from ..states import JobState
from .execution import Outcome, write_outcome

try:
    import psycopg
except ImportError:  # pragma: no cover - psycopg without libpq: SQLite still works
    psycopg = None  # type: ignore[assignment]

#: The most recent node names an ``attempted_by`` keeps: the claim drops older ones.
ATTEMPTED_BY_LIMIT = 100


def quoted(name: str) -> str:
    """``name`` as a PostgreSQL quoted identifier, for raw SQL (a column may be a reserved word: ``unique``)."""
    return '"' + name.replace('"', '""') + '"'


def quoted_table(model: type[Job | Node]) -> str:
    """The PostgreSQL-quoted table name of ``model``, for raw SQL."""
    return quoted(model._meta.db_table)


_JOBS = quoted_table(Job)
_NODES = quoted_table(Node)
_FIELDS = Job._meta.concrete_fields
_ATTNAMES = [field.attname for field in _FIELDS]
_COLUMNS = ", ".join(quoted(str(field.column)) for field in _FIELDS)
#: Positions of the datetime columns in a claimed row (their time zone is set as Django's).
_DATETIMES = [n for n, field in enumerate(_FIELDS) if field.get_internal_type() == "DateTimeField"]

#: ``attempted_by`` gets the node appended, trimmed to its last ATTEMPTED_BY_LIMIT entries
#: (the jsonpath runs only for the rare job already at the limit; a value that is not a
#: list, written by hand, is replaced rather than failing every claim of the queue). The
#: claimed ids are gathered into an array first (``id = ANY(ARRAY(…))``), so the rows are
#: updated through the primary key: an ``id IN (subquery)`` is often planned as a hash join
#: scanning the whole table, finished jobs included, on every claim.
CLAIM_SQL = f"""
UPDATE {_JOBS}
SET state = 'executing', attempt = attempt + 1, attempted_at = now(),
    attempted_by = CASE
      WHEN jsonb_typeof(attempted_by) <> 'array' THEN '[]'::jsonb
      WHEN jsonb_array_length(attempted_by) < {ATTEMPTED_BY_LIMIT} THEN attempted_by
      ELSE jsonb_path_query_array(attempted_by, '$[last - {ATTEMPTED_BY_LIMIT - 2} to last]')
    END || jsonb_build_array(%s::text),
    max_attempts = GREATEST(max_attempts, attempt + 1)
WHERE id = ANY(ARRAY(
  SELECT id FROM {_JOBS}
  WHERE state = 'available' AND queue = %s
  ORDER BY priority, scheduled_at, id
  LIMIT %s
  FOR UPDATE SKIP LOCKED
))
RETURNING {_COLUMNS}
"""

ACK_COMPLETED_SQL = f"""
UPDATE {_JOBS} AS j SET state = 'completed', completed_at = now()
FROM unnest(%s::bigint[], %s::int[]) AS a(id, attempt)
WHERE j.id = a.id AND j.attempt = a.attempt AND j.state = 'executing'
"""

#: Acknowledge plain completions and claim, in one statement and one round trip. Both
#: parts are as above: the completions are guarded, the claim takes available rows only,
#: so the two never touch the same row. The trigger publishing notifications fires once.
ACK_AND_CLAIM_SQL = f"WITH acked AS ({ACK_COMPLETED_SQL.strip()} RETURNING j.id)\n{CLAIM_SQL.strip()}"

def is_postgres(using: str = "default") -> bool:
    """Whether the database ``using`` is PostgreSQL (else the portable, single-process paths)."""
    return connections[using].vendor == "postgresql"


def claim(
    queue: str, limit: int, node: str, using: str = "default", completed: Sequence[Outcome] = ()
) -> list[Job]:
    """Mark up to ``limit`` available jobs of ``queue`` executing for ``node`` and return them.

    ``completed`` (plain completions, see ``Outcome.is_plain_completion``) are acknowledged
    in the same statement on PostgreSQL, before the claim on other databases. The jobs are
    returned in (priority, scheduled_at, id) order.
    """
    if not is_postgres(using):
        if completed:
            _ack_completed_portable(completed, using)
        return _claim_portable(queue, limit, node, using) if limit > 0 else []
    if limit <= 0:
        if completed:
            _execute(ACK_COMPLETED_SQL, _ack_params(completed), using, returns_rows=False)
        return []
    if completed:
        sql, params = ACK_AND_CLAIM_SQL, [*_ack_params(completed), node, queue, limit]
    else:
        sql, params = CLAIM_SQL, [node, queue, limit]
    rows = _execute(sql, params, using)
    if not rows:
        return []
    tz = connections[using].timezone
    jobs = []
    for row in rows:
        values = list(row)
        for n in _DATETIMES:
            if values[n] is not None:
                values[n] = values[n].replace(tzinfo=tz)  # as Django's own loader does
        jobs.append(Job.from_db(using, _ATTNAMES, values))
    jobs.sort(key=_claim_order)  # RETURNING has no order
    return jobs


#: Only jobs claimed since the node's latest run started: an earlier run's are for rescue.
RELEASE_LOST_CLAIMS_SQL = f"""
UPDATE {_JOBS}
SET state = 'available', attempt = attempt - 1, attempted_by = attempted_by - (-1)
WHERE state = 'executing' AND queue = %s AND attempted_by ->> -1 = %s AND NOT (id = ANY(%s::bigint[]))
  AND attempted_at >= COALESCE((SELECT max(started_at) FROM {_NODES} WHERE name = %s), '-infinity')
"""


def release_lost_claims(queue: str, node: str, claimed: set[int], using: str = "default") -> int:
    """Make available again the jobs of ``queue`` executing for ``node`` other than ``claimed``.

    After a failed round trip a claim may have committed while its rows never arrived:
    those jobs never started here, so they go back as they were, attempt and all.
    Only PostgreSQL claims outside a transaction the producer sees fail.
    """
    if not is_postgres(using):
        return 0
    with connections[using].cursor() as cursor:
        cursor.execute(RELEASE_LOST_CLAIMS_SQL, [queue, node, sorted(claimed), node])
        return int(cursor.rowcount)


def _claim_order(job: Job) -> tuple[Any, ...]:
    return (job.priority, job.scheduled_at, job.pk)


def _ack_params(outcomes: Sequence[Outcome]) -> list[str]:
    """The ids and attempts of ``outcomes`` as two array literals (cheaper to send than lists)."""
    ids = ",".join([str(outcome.job.pk) for outcome in outcomes])
    attempts = ",".join([str(outcome.job.attempt) for outcome in outcomes])
    return [f"{{{ids}}}", f"{{{attempts}}}"]


def _execute(sql: str, params: list[Any], using: str, returns_rows: bool = True) -> list[tuple[Any, ...]]:
    """Run a hot runtime statement; its rows if ``returns_rows``.

    On psycopg 3 it runs on a server-side-binding cursor kept with the thread's Django
    connection, with binary results: timestamps are decoded by psycopg's C loaders, JSON by
    a lean loader. Errors are Django's as usual; the statement is not in Django's debug
    query log. Statements are not prepared unless the database ``OPTIONS`` set a
    ``prepare_threshold`` (Django disables prepared statements for the sake of poolers).
    """
    wrapper = connections[using]
    wrapper.ensure_connection()
    raw = wrapper.connection
    with wrapper.wrap_database_errors:
        if psycopg is not None and isinstance(raw, psycopg.Connection):
            cursor = _cursor(wrapper, raw)
            cursor.execute(sql, params, binary=True)
            return cursor.fetchall() if returns_rows else []
        with wrapper.cursor() as plain:  # another driver: the plain way, results decoded by Django
            plain.execute(sql, params)
            if not returns_rows:
                return []
            rows = plain.fetchall()
            return [
                tuple(_decode_json(value, field) for value, field in zip(row, _FIELDS, strict=True))
                for row in rows
            ]


def _cursor(wrapper: Any, raw: Any) -> Any:
    """The runtime's psycopg cursor on ``raw``, created once per connection."""
    cached = getattr(wrapper, "_oban_cursor", None)
    if cached is not None and cached[0] is raw:
        return cached[1]
    cursor = psycopg.Cursor(raw)
    cursor.adapters.register_loader("jsonb", _JsonbLoader)
    wrapper._oban_cursor = (raw, cursor)
    return cursor


if psycopg is not None:
    from psycopg.adapt import Loader
    from psycopg.pq import Format

    class _JsonbLoader(Loader):
        """Binary ``jsonb``: a version byte, then the JSON text; ``{}`` and ``[]`` without parsing."""

        format = Format.BINARY

        def load(self, data: Any) -> Any:
            if data[0] != 1:
                raise psycopg.DataError(f"unknown jsonb binary format: {data[0]}")
            text = bytes(data[1:]).decode()
            if text == "{}":
                return {}
            if text == "[]":
                return []
            return json.loads(text)


def _decode_json(value: Any, field: Any) -> Any:
    if isinstance(value, str) and field.get_internal_type() == "JSONField":
        return field.from_db_value(value, None, None)
    return value


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
            Job.objects.using(using).filter(pk=job.pk, state=JobState.AVAILABLE).update(**start_attempt(job, node, now))
    return jobs


def start_attempt(job: Job, node: str, now: datetime) -> dict[str, Any]:
    """Make ``job`` (in memory) executing for ``node`` from ``now``, as the claim does; the values to write.

    The portable twin of ``CLAIM_SQL``'s ``SET``: the attempt counted, ``max_attempts`` at least
    that, ``attempted_by`` capped at ``ATTEMPTED_BY_LIMIT`` entries (one written by hand replaced).
    """
    history = job.attempted_by if isinstance(job.attempted_by, list) else []
    job.state = JobState.EXECUTING
    job.attempt += 1
    job.max_attempts = max(job.max_attempts, job.attempt)
    job.attempted_at = now
    job.attempted_by = [*history, node][-ATTEMPTED_BY_LIMIT:]
    fields = ("state", "attempt", "max_attempts", "attempted_at", "attempted_by")
    return {name: getattr(job, name) for name in fields}


def acknowledge(outcomes: Sequence[Outcome], using: str = "default") -> None:
    """Write outcomes: plain completions in one guarded statement, the rest one by one."""
    plain = [outcome for outcome in outcomes if outcome.is_plain_completion]
    if plain and is_postgres(using):
        _execute(ACK_COMPLETED_SQL, _ack_params(plain), using, returns_rows=False)
    elif plain:
        _ack_completed_portable(plain, using)
    for outcome in outcomes:
        if not outcome.is_plain_completion:
            write_outcome(outcome, using)


def _ack_completed_portable(plain: Sequence[Outcome], using: str) -> None:
    now = timezone.now()
    with transaction.atomic(using=using):
        for outcome in plain:
            Job.objects.using(using).filter(
                pk=outcome.job.pk, state=JobState.EXECUTING, attempt=outcome.job.attempt
            ).update(state=JobState.COMPLETED, completed_at=now)


def stage(using: str = "default") -> int:
    """Make scheduled and retryable jobs that have come due available."""
    return (
        Job.objects.using(using)
        .filter(state__in=[JobState.SCHEDULED, JobState.RETRYABLE], scheduled_at__lte=timezone.now())
        .update(state=JobState.AVAILABLE)
    )
