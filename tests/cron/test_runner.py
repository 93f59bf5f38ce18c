"""A worker node (``Runner`` in a thread) runs cron: ``@reboot`` once per start, due slots as leader."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings

from django_oban.models import Job, Node
from tests.runtime.helpers import running_worker, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_slots")]

NOOP = "tests.workers.Noop"
CRON = [("@reboot", NOOP, {"queue": "boot"}), ("* * * * *", NOOP, {"queue": "minutely"})]


def count(queue: str) -> int:
    return Job.objects.filter(queue=queue).count()


def heartbeat(run) -> object:
    return Node.objects.get(pk=run.id).heartbeat_at


def test_reboot_runs_once_per_node_start_and_a_due_slot_once() -> None:
    with override_settings(OBAN={"CRON": CRON, "QUEUES": {"default": 1}}):
        with running_worker(node="web-1", heartbeat_interval=0.05) as runner:
            wait_until(lambda: count("boot") == 1 and count("minutely") == 1, timeout=10)
            seen = heartbeat(runner.node_run)
            wait_until(lambda: heartbeat(runner.node_run) >= seen + timedelta(seconds=0.3), timeout=10)
            assert (count("boot"), count("minutely")) == (1, 1)  # six heartbeats or more later
        with running_worker(node="web-1", heartbeat_interval=0.05) as restarted:
            wait_until(lambda: count("boot") == 2, timeout=10)
    reboots = list(Job.objects.filter(queue="boot").order_by("id").values_list("meta__cron", "meta__cron_slot"))
    assert reboots == [("@reboot", f"reboot:{runner.node_run.id}"), ("@reboot", f"reboot:{restarted.node_run.id}")]
