"""manage.py oban_queue: the same output and error conventions as the other commands."""

from __future__ import annotations

import pytest
from django.core.management.base import CommandError
from django.test import override_settings
from django.utils import timezone

from django_oban.models import Node, QueueControl
from django_oban.states import JobState

from ..commands.conftest import run
from ..conftest import make_job

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def queues():
    now = timezone.now()
    Node.objects.create(name="web-1", started_at=now, heartbeat_at=now,
                        queues={"mailers": {"limit": 5, "paused": False, "running": 1}})
    with override_settings(OBAN={"QUEUES": {"default": 10, "mailers": 5}}):
        yield


def controls() -> set[tuple]:
    return set(QueueControl.objects.values_list("queue", "node", "paused", "limit"))


def test_pause_resume_and_scale_say_what_they_did() -> None:
    out = run("oban_queue", "pause", "mailers").stdout
    assert out == "Paused queue 'mailers' on every node (1 live node runs it).\n"
    out = run("oban_queue", "scale", "mailers", "--limit", "20", "--node", "web-1").stdout
    assert out == "Scaled queue 'mailers' to 20 on node 'web-1' (1 live node runs it).\n"
    out = run("oban_queue", "resume", "default").stdout
    assert out == "Resumed queue 'default' on every node (0 live nodes run it).\n"
    assert controls() == {("mailers", "", True, None), ("mailers", "web-1", None, 20), ("default", "", False, None)}


def test_json_is_one_object() -> None:
    assert run("oban_queue", "scale", "mailers", "--limit", "3", "--json").json == {
        "operation": "scale", "queue": "mailers", "node": None, "limit": 3, "nodes": 1
    }
    make_job(JobState.AVAILABLE, queue="mailers")
    status = run("oban_queue", "status", "mailers", "--json").json
    assert status == {"queues": [{
        "queue": "mailers", "node": "web-1", "limit": 5, "paused": False, "running": 1, "available": 1,
        "counts": {**dict.fromkeys(JobState.values, 0), "available": 1},
    }]}


def test_status_is_a_table_of_queues_and_nodes() -> None:
    run("oban_queue", "pause", "default")
    lines = run("oban_queue", "status").stdout.splitlines()
    assert lines[0].split() == ["queue", "node", "paused", "limit", "running", *JobState.values]
    assert lines[1].split() == ["default", "-", "yes", "-", "0", *["0"] * 7]
    assert lines[2].split() == ["mailers", "web-1", "no", "5", "1", *["0"] * 7]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pause"], "pause needs the name of a queue"),
        (["pause", "nope"], "Unknown queue 'nope'"),
        (["pause", "mailers", "--node", "web-9"], "Unknown node 'web-9'"),
        (["pause", "mailers", "--limit", "3"], "pause takes no --limit"),
        (["scale", "mailers"], "scale needs --limit N"),
        (["scale", "mailers", "--limit", "0"], "must be at least 1"),
        (["scale", "mailers", "--limit", "two"], "expected an integer"),
        (["scale", "mailers", "--limit", "100000"], "an integer from 1 to 1000"),
        (["resume", " "], "expected a non-blank name"),
        (["status", "nope"], "Unknown queue 'nope'"),
        (["status", "--node", "web-1"], "status takes no --limit or --node"),
    ],
)
def test_bad_input_is_a_command_error_and_changes_nothing(args, message) -> None:
    with pytest.raises(CommandError, match=message):
        run("oban_queue", *args)
    assert controls() == set()


@pytest.mark.postgres
def test_a_real_process_exits_1_with_the_message_on_stderr(manage) -> None:
    done = manage("oban_queue", "scale", "mailers", "--limit", "-1")
    assert (done.returncode, done.stdout) == (1, "")
    assert "must be at least 1" in done.stderr and "Traceback" not in done.stderr
    done = manage("oban_queue", "pause", "mailers", "--json")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.strip().startswith('{"operation": "pause"')
