"""Queue control: pause, resume and scale queues at runtime, on every node or one, and their status.

What an operator sets is kept in ``oban_queue_controls`` (``QueueControl``): a row per queue
for every node (``node == ""``) and rows for single nodes, each holding ``paused`` and
``limit`` or ``None`` ("not set here"). A node running a queue obeys, per attribute, its own
row, else the every-node row, else its configuration (``--queues`` / ``OBAN["QUEUES"]``, not
paused). A change for every node clears that attribute from the queue's single-node rows, so
``resume_queue("mailers")`` resumes it everywhere. On PostgreSQL a trigger publishes each
change on ``oban_queues_changed`` and running nodes apply it at once; every node also re-reads
the table every ``POLL_INTERVAL``, and a node that starts reads it before it claims a job.

A queue is *known* when it is in ``OBAN["QUEUES"]``, run by a live node, already in the
control table, or holds jobs; anything else is refused as a typo. A node is known when it is
live (a heartbeat within ``RESCUE_AFTER``) or has a control row. A node applies only settings
of the queues it runs: a queue paused in the database but absent from a node's ``--queues``
is reported by ``queue_status()``, never started there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import router, transaction
from django.db.models.functions import Now
from django.utils import timezone

from .changes import clean_name
from .conditions import is_postgresql
from .conf import oban_settings
from .counting import Count, bounded_stats
from .managing import record
from .models import Job, Node, QueueControl
from .states import JobState
from .twins import async_twin

#: The ``node`` of a queue's every-node row.
ALL_NODES = ""
#: The largest limit ``scale_queue`` accepts: a node runs a thread per slot.
MAX_LIMIT = 1000


@dataclass(frozen=True)
class Control:
    """What a node applies to a queue it runs: paused or not, and its limit (``None``: as configured)."""

    paused: bool
    limit: int | None


#: Each change to a queue, by operation name: its past tense, as reports say it.
CHANGED = {"pause": "Paused", "resume": "Resumed", "scale": "Scaled"}


def change_queue(operation: str, queue: str, *, node: str | None = None, limit: Any = None) -> int:
    """``pause_queue``, ``resume_queue`` or ``scale_queue`` (with ``limit``) by ``operation``'s name."""
    if operation == "scale":
        return scale_queue(queue, limit=limit, node=node)
    return (pause_queue if operation == "pause" else resume_queue)(queue, node=node)


def describe_change(operation: str, queue: str, node: str | None, limit: int | None) -> str:
    """``Paused queue 'mailers' on every node``, ``Scaled queue 'mailers' to 20 on node 'web-1'``."""
    where = "on every node" if node is None else f"on node {node!r}"
    to = f" to {limit}" if operation == "scale" else ""
    return f"{CHANGED[operation]} queue {queue!r}{to} {where}"


def pause_queue(queue: str, *, node: str | None = None) -> int:
    """Stop claiming jobs of ``queue`` on every node (or on ``node``); running jobs finish normally.

    Returns how many live nodes run the queue (and are ``node``): they apply it within a second.
    ``ValueError`` for an unknown queue or node, ``TypeError`` for a name that is not a string.
    """
    return _set("pause", queue, node, paused=True)


def resume_queue(queue: str, *, node: str | None = None) -> int:
    """Claim jobs of ``queue`` again on every node (or on ``node``); see ``pause_queue``."""
    return _set("resume", queue, node, paused=False)


def scale_queue(queue: str, *, limit: int, node: str | None = None) -> int:
    """Set the per-node concurrency ``limit`` of ``queue`` on every node (or on ``node``).

    Scaling down interrupts no running job: a node claims again once below the new limit.
    ``ValueError`` for a limit that is not an integer from 1 to ``MAX_LIMIT``; see ``pause_queue``.
    """
    return _set("scale", queue, node, limit=check_limit(limit))


def queue_status() -> list[dict[str, Any]]:
    """Every known queue on every live node that runs it, in (queue, node) order.

    Each row: ``queue``, ``node``, ``limit``, ``paused`` and ``running`` as the node last
    reported them, ``available`` and ``counts`` (the queue's jobs by state). A queue no live
    node runs has one row with ``node`` ``None``, ``running`` 0, and the every-node setting
    (``paused``; ``limit`` ``None`` unless scaled). The counts are ``counting.Count`` ints, exact
    up to 100,000 jobs per queue and state, PostgreSQL's estimate beyond (``.exact`` is then
    false; see ``counting.bounded_stats``). Three queries (four on PostgreSQL) on a table of up
    to 100,000 jobs, whatever the number of nodes.
    """
    using = router.db_for_read(QueueControl)
    counts = bounded_stats(Job.objects.using(using))
    views = live_views(using)
    controls = {queue: (paused, limit) for queue, paused, limit in QueueControl.objects.using(using).filter(
        node=ALL_NODES).values_list("queue", "paused", "limit")}
    queues = set(counts) | set(controls) | set(oban_settings.QUEUES) | {q for view in views.values() for q in view}
    rows = []
    for queue in sorted(queues):
        states = counts.get(queue, dict.fromkeys(JobState.values, Count(0)))
        shared = {"available": states[JobState.AVAILABLE], "counts": states}
        running = [(node, view[queue]) for node, view in sorted(views.items()) if queue in view]
        rows += [{"queue": queue, "node": node, "limit": seen.get("limit"), "paused": bool(seen.get("paused")),
                  "running": seen.get("running", 0), **shared} for node, seen in running]
        if not running:
            paused, limit = controls.get(queue, (None, None))
            rows.append({"queue": queue, "node": None, "limit": limit, "paused": bool(paused), "running": 0, **shared})
    return rows


def effective_controls(node: str, queues: Iterable[str], using: str = "default") -> dict[str, Control]:
    """What ``node`` applies to each of ``queues`` (those with no setting are left out), in one query."""
    every: dict[str, tuple[bool | None, int | None]] = {}
    own: dict[str, tuple[bool | None, int | None]] = {}
    rows = QueueControl.objects.using(using).filter(queue__in=list(queues), node__in=[ALL_NODES, node])
    for queue, row_node, paused, limit in rows.values_list("queue", "node", "paused", "limit"):
        (every if row_node == ALL_NODES else own)[queue] = (paused, limit)
    controls = {}
    for queue in every.keys() | own.keys():
        (paused, limit), (all_paused, all_limit) = own.get(queue, (None, None)), every.get(queue, (None, None))
        controls[queue] = Control(
            bool(all_paused if paused is None else paused), all_limit if limit is None else limit
        )
    return controls


def live_views(using: str = "default") -> dict[str, dict[str, dict[str, Any]]]:
    """Each live node's report of its queues (``{queue: {limit, paused, running}}``), by node name.

    Live: a heartbeat within ``RESCUE_AFTER`` seconds (by the database's clock on PostgreSQL);
    of several runs of a name, the latest.
    """
    now = Now() if is_postgresql(using) else timezone.now()
    rows = Node.objects.using(using).filter(heartbeat_at__gte=now - timedelta(seconds=oban_settings.RESCUE_AFTER))
    return dict(rows.order_by("started_at").values_list("name", "queues"))


def check_limit(limit: Any) -> int:
    """``limit`` if it is an integer from 1 to ``MAX_LIMIT``, else ``ValueError`` saying so."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"A queue's limit must be an integer from 1 to {MAX_LIMIT}, not {limit!r}.")
    return limit


def _set(operation: str, queue: Any, node: Any, **values: Any) -> int:
    """Write ``values`` for ``queue`` on every node or ``node``; the number of live nodes it reaches.

    Sends ``jobs_managed`` (sender ``operation``) with that number, ``queue``, ``node`` and ``values``.
    """
    queue = _name(queue, "queue")
    node = None if node is None else _name(node, "node")
    using = router.db_for_write(QueueControl)
    controls = QueueControl.objects.using(using)
    with transaction.atomic(using=using):
        views = live_views(using)
        _check_known(queue, node, views, using)
        if node is None:
            controls.filter(queue=queue).exclude(node=ALL_NODES).update(**dict.fromkeys(values))
            controls.filter(queue=queue, paused=None, limit=None).exclude(node=ALL_NODES).delete()
        defaults = {**values, "updated_at": timezone.now()}
        controls.update_or_create(queue=queue, node=node or ALL_NODES, defaults=defaults)
    reached = sum(1 for name, view in views.items() if queue in view and node in (None, name))
    record(operation, reached, queue=queue, node=node, **values)
    return reached


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"The {what} must be a name (a string), not {type(value).__name__}.")
    try:
        return clean_name(value)
    except ValueError as exc:
        raise ValueError(f"Invalid {what} name {value!r}: {exc}.") from None


def _check_known(queue: str, node: str | None, views: dict[str, dict[str, Any]], using: str) -> None:
    """``ValueError`` for a queue or node nothing knows (see the module's docstring)."""
    controls = QueueControl.objects.using(using)
    known_queue = (
        queue in oban_settings.QUEUES
        or any(queue in view for view in views.values())
        or controls.filter(queue=queue).exists()
        or Job.objects.using(using).filter(state__in=JobState.values, queue=queue).exists()
    )
    if not known_queue:
        raise ValueError(
            f"Unknown queue {queue!r}: it is not in OBAN['QUEUES'], no live node runs it, it has no jobs "
            "and it was never paused or scaled."
        )
    if node is not None and node not in views and not controls.filter(node=node).exists():
        raise ValueError(f"Unknown node {node!r}: no live node has that name and no queue control names it.")


apause_queue = async_twin(pause_queue)
aresume_queue = async_twin(resume_queue)
ascale_queue = async_twin(scale_queue)
aqueue_status = async_twin(queue_status)
