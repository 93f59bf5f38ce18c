"""Tasks run by the real ``manage.py oban_worker`` and managed by the real commands, on PostgreSQL."""

from __future__ import annotations

import json
import signal
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

import django_oban
from django_oban.backends import TaskCancelled
from django_oban.tasks.compat import TaskResultStatus
from tests.runtime.helpers import start_worker, wait_until

from . import tasks

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

Status = TaskResultStatus


def stop(process) -> str:
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, out + err
    return out + err


def finished(*results) -> bool:
    for result in results:
        result.refresh()
    return all(result.is_finished for result in results)


def test_a_worker_process_runs_tasks_in_priority_order_with_results() -> None:
    order = [tasks.record_call.using(priority=p).enqueue(str(p)) for p in (-60, 0, 100, 40)]
    added = tasks.add.enqueue(2, 3)
    multiplied = tasks.async_multiply.enqueue(6, 7)
    failed = tasks.fail.enqueue("boom")
    django_oban.update_job(int(failed.id), {"max_attempts": 1})  # no retry: fail at once
    run_after = timezone.now() + timedelta(seconds=1)
    deferred = tasks.add.using(run_after=run_after).enqueue(1, 1)
    worker = start_worker("--queues", "default=1", "--node", "tasks-node")
    try:
        wait_until(lambda: finished(*order, added, multiplied, failed, deferred), timeout=30, interval=0.1)
    finally:
        stop(worker)
    started = sorted(order, key=lambda result: result.started_at)
    assert [result.return_value for result in started] == ["100", "40", "0", "-60"]
    assert (added.status, added.return_value, added.worker_ids) == (Status.SUCCESSFUL, 5, ["tasks-node"])
    assert (multiplied.status, multiplied.return_value) == (Status.SUCCESSFUL, 42)
    assert failed.status == Status.FAILED and failed.worker_ids == ["tasks-node"]
    assert failed.errors[0].exception_class is ValueError and "boom" in failed.errors[0].traceback
    assert deferred.status == Status.SUCCESSFUL and deferred.started_at >= run_after


def test_cancel_and_retry_a_task_from_the_command_line(tmp_path) -> None:
    started = tmp_path / "started"
    result = tasks.wait_for_cancel.enqueue(str(started), 30)
    worker = start_worker("--queues", "default=2", "--node", "tasks-node")
    try:
        wait_until(started.exists, timeout=20)
        assert tasks.wait_for_cancel.get_result(result.id).status == Status.RUNNING
        call_command("oban_cancel", result.id, stdout=StringIO())
        wait_until((tmp_path / "started.cancelled").exists, timeout=10)  # the task saw current_job().cancelled()
        result.refresh()
        assert result.status == Status.FAILED
        assert [error.exception_class for error in result.errors] == [TaskCancelled]

        started.unlink()
        new_args = json.dumps({"args": [str(started), 0], "kwargs": {}})  # no waiting this time
        call_command("oban_update", result.id, "--set-args", new_args, stdout=StringIO())
        call_command("oban_retry", result.id, stdout=StringIO())
        wait_until(lambda: finished(result), timeout=20, interval=0.05)
    finally:
        stop(worker)
    assert (result.status, result.return_value) == (Status.SUCCESSFUL, "ran to the end")
    assert result.worker_ids == ["tasks-node", "tasks-node"] and result.attempts == 2

