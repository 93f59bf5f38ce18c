"""Queue control from Python: what is stored, what each node applies, what is refused, the status."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, connections
from django.test import override_settings
from django.utils import timezone

import django_oban
from django_oban.models import Node, QueueControl
from django_oban.queues import MAX_LIMIT, Control, effective_controls
from django_oban.states import JobState

from ..conftest import make_job

pytestmark = pytest.mark.django_db

QUEUES = {"default": 10, "mailers": 5}


@pytest.fixture(autouse=True)
def configured_queues():
    with override_settings(OBAN={"QUEUES": QUEUES}):
        yield


def live_node(name: str, **queues: dict) -> Node:
    now = timezone.now()
    return Node.objects.create(name=name, started_at=now, heartbeat_at=now, queues=queues)


def controls() -> set[tuple]:
    return set(QueueControl.objects.values_list("queue", "node", "paused", "limit"))


def test_every_node_and_one_node_settings_combine_per_attribute() -> None:
    live_node("web-1", mailers={"limit": 5, "paused": False, "running": 0})
    django_oban.scale_queue("mailers", limit=20)
    django_oban.pause_queue("mailers", node="web-1")

    assert effective_controls("web-1", ["mailers", "default"]) == {"mailers": Control(paused=True, limit=20)}
    assert effective_controls("web-2", ["mailers"]) == {"mailers": Control(paused=False, limit=20)}
    django_oban.scale_queue("mailers", limit=3, node="web-1")
    assert effective_controls("web-1", ["mailers"]) == {"mailers": Control(paused=True, limit=3)}


def test_a_change_for_every_node_overrides_what_single_nodes_set() -> None:
    live_node("web-1")
    live_node("web-2")
    django_oban.pause_queue("mailers", node="web-1")
    django_oban.scale_queue("mailers", limit=2, node="web-2")

    django_oban.resume_queue("mailers")

    assert effective_controls("web-1", ["mailers"]) == {"mailers": Control(paused=False, limit=None)}
    assert effective_controls("web-2", ["mailers"]) == {"mailers": Control(paused=False, limit=2)}
    assert controls() == {("mailers", "", False, None), ("mailers", "web-2", None, 2)}


def test_the_count_returned_is_of_the_live_nodes_running_the_queue() -> None:
    live_node("web-1", mailers={"limit": 5, "paused": False, "running": 1})
    live_node("web-2", mailers={"limit": 5, "paused": False, "running": 0})
    live_node("web-3", default={"limit": 10, "paused": False, "running": 0})

    assert django_oban.pause_queue("mailers") == 2
    assert django_oban.pause_queue("mailers", node="web-3") == 0
    assert django_oban.resume_queue("mailers", node="web-2") == 1


@pytest.mark.parametrize("limit", [0, -1, MAX_LIMIT + 1, 2.0, "3", True, None])
def test_a_limit_that_is_not_an_integer_from_1_to_the_maximum_is_refused(limit) -> None:
    with pytest.raises(ValueError, match=f"an integer from 1 to {MAX_LIMIT}, not"):
        django_oban.scale_queue("mailers", limit=limit)
    assert controls() == set()


def test_an_unknown_queue_or_node_is_refused_and_nothing_is_stored() -> None:
    with pytest.raises(ValueError, match="Unknown queue 'mailer'"):
        django_oban.pause_queue("mailer")
    with pytest.raises(ValueError, match="Unknown node 'web-9'"):
        django_oban.pause_queue("mailers", node="web-9")
    with pytest.raises(ValueError, match="Invalid queue name"):
        django_oban.pause_queue("   ")
    with pytest.raises(ValueError, match="NUL"):
        django_oban.pause_queue("mail\x00ers")
    with pytest.raises(TypeError, match="not int"):
        django_oban.resume_queue(7)
    assert controls() == set()


def test_known_queues_are_configured_run_by_a_live_node_controlled_or_holding_jobs() -> None:
    live_node("web-1", imports={"limit": 1, "paused": False, "running": 0})
    make_job(JobState.SCHEDULED, queue="later")
    for queue in ("default", "imports", "later"):
        django_oban.pause_queue(queue)
    with override_settings(OBAN={"QUEUES": {"other": 1}}):
        django_oban.resume_queue("default")  # known now through its control row
    Node.objects.all().delete()
    with pytest.raises(ValueError, match="Unknown queue 'gone'"):
        django_oban.pause_queue("gone")


def test_status_shows_each_live_nodes_view_and_each_queue_no_node_runs() -> None:
    live_node("web-2", mailers={"limit": 3, "paused": True, "running": 2})
    live_node("web-1", mailers={"limit": 5, "paused": False, "running": 1}, default={"limit": 10, "paused": False,
                                                                                      "running": 0})
    dead = live_node("gone", mailers={"limit": 9, "paused": False, "running": 9})
    Node.objects.filter(pk=dead.pk).update(heartbeat_at=timezone.now() - timezone.timedelta(hours=1))
    make_job(JobState.AVAILABLE, queue="mailers")
    make_job(JobState.COMPLETED, queue="mailers")
    make_job(JobState.AVAILABLE, queue="reports")
    django_oban.pause_queue("reports")  # paused in the database; no node runs it

    rows = django_oban.queue_status()

    mailers_counts = {**dict.fromkeys(JobState.values, 0), "available": 1, "completed": 1}
    assert [(row["queue"], row["node"]) for row in rows] == [
        ("default", "web-1"), ("mailers", "web-1"), ("mailers", "web-2"), ("reports", None)
    ]
    assert rows[2] == {"queue": "mailers", "node": "web-2", "limit": 3, "paused": True, "running": 2,
                       "available": 1, "counts": mailers_counts}
    assert rows[3] == {"queue": "reports", "node": None, "limit": None, "paused": True, "running": 0,
                       "available": 1, "counts": {**dict.fromkeys(JobState.values, 0), "available": 1}}


def test_status_takes_three_queries_whatever_the_number_of_nodes(django_assert_num_queries) -> None:
    for n in range(5):
        live_node(f"web-{n}", mailers={"limit": 5, "paused": False, "running": n})
    # Counts, nodes, controls; on PostgreSQL the EXPLAIN that finds the table small enough to count exactly.
    with django_assert_num_queries(4 if connection.vendor == "postgresql" else 3):
        rows = django_oban.queue_status()
    assert len(rows) == 6  # default (no node), and mailers on five nodes


@pytest.mark.django_db(transaction=True)
def test_the_async_twins_do_the_same() -> None:
    async def run() -> list:
        await django_oban.apause_queue("mailers")
        await django_oban.ascale_queue("mailers", limit=4)
        rows = await django_oban.aqueue_status()
        await sync_to_async(connections.close_all)()  # the twins' thread's connection
        return rows

    rows = asyncio.run(run())
    assert [(row["queue"], row["paused"], row["limit"]) for row in rows] == [
        ("default", False, None), ("mailers", True, 4)
    ]
    with pytest.raises(ValueError):
        asyncio.run(django_oban.aresume_queue("nope"))
    asyncio.run(sync_to_async(connections.close_all)())
