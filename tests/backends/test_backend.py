"""ObanBackend's conformance, in-process (the worker's own execution code via drain_queue), on every engine."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

import django_oban
from django_oban.backends import ObanBackend, TaskCancelled, job_priority
from django_oban.models import Job
from django_oban.states import JobState
from django_oban.tasks.compat import (
    InvalidTask,
    TaskResultDoesNotExist,
    TaskResultMismatch,
    TaskResultStatus,
    task_backends,
    task_enqueued,
    task_finished,
    task_started,
)
from django_oban.testing import TEST_NODE, drain_queue
from tests.conftest import make_job, snapshot

from . import tasks

pytestmark = pytest.mark.django_db

Status = TaskResultStatus


def test_the_configured_backend_is_oban_with_every_feature() -> None:
    backend = task_backends["default"]
    assert isinstance(backend, ObanBackend)
    assert (backend.supports_defer, backend.supports_priority) == (True, True)
    assert (backend.supports_async_task, backend.supports_get_result) == (True, True)


def test_enqueue_inserts_an_ordinary_job_named_after_the_task() -> None:
    result = tasks.echo.using(priority=90).enqueue(1, "two", (3,), key={"nested": [4]})
    job = Job.objects.get(pk=int(result.id))
    assert job.worker == "tests.backends.tasks.echo"
    assert job.args == {"args": [1, "two", [3]], "kwargs": {"key": {"nested": [4]}}}
    assert (job.queue, job.priority, job.state, job.max_attempts) == ("default", 0, JobState.AVAILABLE, 20)
    assert job.meta == {"task": {"backend": "default", "priority": 90}}
    assert result.status == Status.READY and result.id == str(job.pk)
    assert (result.args, result.kwargs) == ([1, "two", [3]], {"key": {"nested": [4]}})
    assert result.enqueued_at == job.inserted_at and result.worker_ids == [] and result.errors == []
    assert result.task.func is tasks.echo.func and result.task.priority == 90


def test_enqueue_sends_task_enqueued_with_the_result() -> None:
    received = []

    def receiver(sender, task_result, **kwargs):
        received.append((sender, task_result.id, task_result.status))

    task_enqueued.connect(receiver)
    try:
        result = tasks.add.enqueue(1, 2)
    finally:
        task_enqueued.disconnect(receiver)
    assert received == [(ObanBackend, result.id, Status.READY)]


@pytest.mark.parametrize(
    ("priority", "expected"),
    [(100, 0), (81, 0), (80, 1), (1, 4), (0, 5), (-19, 5), (-20, 6), (-79, 8), (-80, 9), (-100, 9)],
)
def test_priority_maps_onto_job_priority_in_bands_of_20(priority: int, expected: int) -> None:
    assert job_priority(priority) == expected


def test_priority_mapping_preserves_order_over_the_whole_range() -> None:
    mapped = [job_priority(priority) for priority in range(100, -101, -1)]
    assert mapped == sorted(mapped) and mapped[0] == 0 and mapped[-1] == 9


def test_higher_django_priority_runs_first() -> None:
    for name, priority in [("low", -50), ("default", 0), ("urgent", 100), ("high", 30)]:
        tasks.record_call.using(priority=priority).enqueue(name)
    assert drain_queue() == {JobState.COMPLETED: 4}
    assert tasks.CALLS == ["urgent", "high", "default", "low"]


def test_a_successful_task_reports_its_return_value_and_attempt() -> None:
    result = tasks.add.enqueue(2, 3)
    drain_queue()
    result.refresh()
    assert result.status == Status.SUCCESSFUL and result.is_finished
    assert result.return_value == 5
    assert result.worker_ids == [TEST_NODE] and result.attempts == 1 and result.errors == []
    assert result.enqueued_at <= result.started_at == result.last_attempted_at <= result.finished_at
    again = tasks.add.get_result(result.id)
    assert (again.status, again.return_value, again.args) == (Status.SUCCESSFUL, 5, [2, 3])


def test_the_return_value_is_stored_as_json_with_the_job() -> None:
    result = tasks.echo.enqueue((1, 2), flag=True)
    drain_queue()
    assert Job.objects.get(pk=result.id).meta["recorded"] == {"args": [[1, 2]], "kwargs": {"flag": True}}
    assert tasks.echo.get_result(result.id).return_value == {"args": [[1, 2]], "kwargs": {"flag": True}}


def test_a_failing_task_is_retried_then_fails_with_its_errors() -> None:
    with override_settings(TASKS={"default": {"BACKEND": "django_oban.backends.ObanBackend",
                                              "OPTIONS": {"MAX_ATTEMPTS": 2, "BACKOFF": 0}}}):
        result = tasks.fail.enqueue("boom")
        drain_queue()
        result.refresh()
        assert result.status == Status.READY  # retryable: it will run again
        assert [error.exception_class_path for error in result.errors] == ["builtins.ValueError"]
        assert "ValueError: boom" in result.errors[0].traceback and "Traceback" in result.errors[0].traceback
        assert result.errors[0].exception_class is ValueError
        drain_queue(with_scheduled=True)
        result.refresh()
    assert result.status == Status.FAILED and result.finished_at is not None
    assert len(result.errors) == 2 and result.attempts == 2
    with pytest.raises(ValueError, match="Task failed"):
        result.return_value  # noqa: B018


def test_a_task_that_succeeds_on_a_retry_shows_each_attempt() -> None:
    result = tasks.fail_until_attempt.enqueue(2)
    drain_queue()
    django_oban.retry_job(int(result.id))  # run the retry now, as from the admin or oban_retry
    drain_queue()
    result.refresh()
    assert result.status == Status.SUCCESSFUL and result.return_value == 2
    assert result.worker_ids == [TEST_NODE, TEST_NODE]
    assert [error.exception_class_path for error in result.errors] == ["builtins.ConnectionError"]


def test_a_return_value_json_cannot_hold_fails_the_attempt() -> None:
    result = tasks.unstorable.enqueue()
    drain_queue()
    result.refresh()
    assert result.status == Status.READY
    assert result.errors[0].exception_class_path == "builtins.TypeError"


def test_async_tasks_run() -> None:
    result = tasks.async_multiply.enqueue(6, 7)
    drain_queue()
    result.refresh()
    assert (result.status, result.return_value) == (Status.SUCCESSFUL, 42)


def test_a_task_taking_context_gets_its_result_and_attempt() -> None:
    result = tasks.context_attempt.enqueue("x")
    drain_queue()
    assert tasks.context_attempt.get_result(result.id).return_value == {"label": "x", "attempt": 1, "id": result.id}


def test_the_worker_sends_task_started_and_task_finished() -> None:
    received = []

    def receiver(signal, sender, task_result, **kwargs):
        received.append((signal, sender, task_result.id, task_result.status))

    task_started.connect(receiver)
    task_finished.connect(receiver)
    try:
        ok = tasks.add.enqueue(1, 1)
        bad = tasks.fail.enqueue("no")
        drain_queue()
    finally:
        task_started.disconnect(receiver)
        task_finished.disconnect(receiver)
    assert received == [
        (task_started, ObanBackend, ok.id, Status.RUNNING),
        (task_finished, ObanBackend, ok.id, Status.SUCCESSFUL),
        (task_started, ObanBackend, bad.id, Status.RUNNING),
        (task_finished, ObanBackend, bad.id, Status.READY),  # 19 attempts left
    ]


def test_task_finished_is_sent_before_the_outcome_is_written() -> None:
    seen = []

    def receiver(sender, task_result, **kwargs):
        seen.append((task_result.status, tasks.add.get_result(task_result.id).status))

    task_finished.connect(receiver)
    try:
        result = tasks.add.enqueue(1, 2)
        drain_queue()
    finally:
        task_finished.disconnect(receiver)
    assert seen == [(Status.SUCCESSFUL, Status.RUNNING)]  # documented in docs/tasks.md (Signals)
    result.refresh()
    assert (result.status, result.return_value) == (Status.SUCCESSFUL, 3)


def test_run_after_defers_the_task() -> None:
    later = timezone.now() + timedelta(hours=1)
    result = tasks.add.using(run_after=later).enqueue(1, 2)
    job = Job.objects.get(pk=result.id)
    assert (job.state, job.scheduled_at) == (JobState.SCHEDULED, later)
    assert result.status == Status.READY and result.task.run_after == later
    assert drain_queue() == {}
    assert tasks.add.get_result(result.id).task.run_after == later


@pytest.mark.parametrize("result_id", ["999999", "abc", "", str(2**70), "-1"])
def test_get_result_of_an_unknown_id_raises_the_frameworks_error(result_id: str) -> None:
    with pytest.raises(TaskResultDoesNotExist):
        tasks.add.get_result(result_id)


def test_get_result_of_a_job_that_is_not_a_task_raises_the_frameworks_error() -> None:
    job = make_job()
    with pytest.raises(TaskResultDoesNotExist):
        task_backends["default"].get_result(str(job.pk))


def test_aenqueue_and_aget_result() -> None:
    async def scenario():
        result = await tasks.add.aenqueue(4, 5)
        return result, await tasks.add.aget_result(result.id)

    result, fetched = async_to_sync(scenario)()
    assert fetched.id == result.id and fetched.status == Status.READY and fetched.args == [4, 5]


def test_a_rolled_back_enqueue_leaves_no_job() -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        result = tasks.add.enqueue(1, 2)
        raise RuntimeError("rolled back")
    assert not Job.objects.exists()
    with pytest.raises(TaskResultDoesNotExist):
        tasks.add.get_result(result.id)


def test_an_unknown_queue_is_a_clear_error_and_inserts_nothing() -> None:
    with pytest.raises(InvalidTask, match=r"Queue 'nowhere' is not a queue of the task backend 'default'"):
        tasks.add.using(queue_name="nowhere").enqueue(1, 2)
    assert not Job.objects.exists()


def test_the_backends_queues_setting_is_honoured() -> None:
    with override_settings(TASKS={"default": {"BACKEND": "django_oban.backends.ObanBackend", "QUEUES": ["mailers"]}}):
        with pytest.raises(InvalidTask, match="'mailers'"):
            tasks.add.enqueue(1, 2)
        result = tasks.add.using(queue_name="mailers").enqueue(1, 2)
    assert Job.objects.get(pk=result.id).queue == "mailers"


@pytest.mark.parametrize("priority", [101, -101, 1.5])
def test_a_bad_priority_is_a_clear_error(priority: object) -> None:
    with pytest.raises(InvalidTask, match="priority"):
        tasks.add.using(priority=priority)


def test_a_naive_run_after_is_a_clear_error() -> None:
    with pytest.raises(InvalidTask, match="aware"):
        tasks.add.using(run_after=timezone.now().replace(tzinfo=None))


def test_arguments_json_cannot_hold_are_a_type_error_and_insert_nothing() -> None:
    before = snapshot()
    with pytest.raises(TypeError, match="JSON"):
        tasks.echo.enqueue(object())
    with pytest.raises(TypeError, match="JSON"):
        tasks.echo.enqueue(value=float("nan"))
    assert snapshot() == before


def test_options_set_max_attempts_and_tags_per_backend_and_per_task() -> None:
    options = {"MAX_ATTEMPTS": 3, "TAGS": ["Tasks"], "TASKS": {"tests.backends.tasks.add": {"TAGS": ["math"]}}}
    with override_settings(TASKS={"default": {"BACKEND": "django_oban.backends.ObanBackend", "OPTIONS": options}}):
        added = Job.objects.get(pk=tasks.add.enqueue(1, 2).id)
        echoed = Job.objects.get(pk=tasks.echo.enqueue().id)
    assert (added.max_attempts, added.tags) == (3, ["math"])
    assert (echoed.max_attempts, echoed.tags) == (3, ["tasks"])


def test_cancelled_task_fails_with_the_cancellation_in_its_errors() -> None:
    result = tasks.add.enqueue(1, 2)
    django_oban.cancel_job(int(result.id))
    result.refresh()
    assert result.status == Status.FAILED and result.finished_at is not None
    assert [error.exception_class for error in result.errors] == [TaskCancelled]
    assert drain_queue() == {}


def test_tasks_jobs_are_updated_deleted_and_filtered_like_any_job() -> None:
    result = tasks.add.enqueue(1, 2)
    django_oban.update_job(int(result.id), {"queue": "mailers", "priority": 0, "tags": ["moved"]})
    assert tasks.add.get_result(result.id).task.queue_name == "mailers"
    assert drain_queue("mailers") == {JobState.COMPLETED: 1}
    assert list(Job.objects.filter(worker=tasks.add.module_path).values_list("tags", flat=True)) == [["moved"]]
    django_oban.delete_job(int(result.id))
    with pytest.raises(TaskResultDoesNotExist):
        result.refresh()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"MAX_ATTEMPTS": 0}, "MAX_ATTEMPTS"),
        ({"TAGS": "x"}, "TAGS"),
        ({"TIMEOUT": -1}, "TIMEOUT"),
        ({"BACKOFF": "no.such.function"}, "BACKOFF"),
        ({"RETRIES": 3}, "unknown keys 'RETRIES'"),
        ({"TASKS": {"app.tasks.t": {"MAX_ATTEMPTS": "3"}}}, "OPTIONS['TASKS']['app.tasks.t']['MAX_ATTEMPTS']"),
    ],
)
def test_check_reports_invalid_options(options: dict, message: str) -> None:
    backend = ObanBackend("default", {"OPTIONS": options})
    errors = [error for error in backend.check() if error.id == "django_oban.E020"]
    assert len(errors) == 1 and message in errors[0].msg


def test_check_warns_of_queues_no_worker_runs() -> None:
    assert list(ObanBackend("default", {}).check()) == []
    warnings = list(ObanBackend("default", {"QUEUES": ["default", "ghost"]}).check())
    assert [warning.id for warning in warnings] == ["django_oban.W021"] and "'ghost'" in warnings[0].msg


def test_get_result_through_another_task_is_a_mismatch() -> None:
    result = tasks.add.enqueue(1, 2)
    with pytest.raises(TaskResultMismatch):
        tasks.echo.get_result(result.id)


def test_a_task_returning_cancel_cancels_its_job_with_the_reason() -> None:
    result = tasks.give_up.enqueue("nothing to do")
    drain_queue()
    result.refresh()
    assert result.status == Status.FAILED
    assert [error.exception_class for error in result.errors] == [TaskCancelled]
    assert "nothing to do" in result.errors[0].traceback


def test_backoff_and_timeout_options_apply_to_the_attempts() -> None:
    options = {"BACKOFF": 600, "TASKS": {"tests.backends.tasks.sleep_in_steps": {"TIMEOUT": 0.05}}}
    with override_settings(TASKS={"default": {"BACKEND": "django_oban.backends.ObanBackend", "OPTIONS": options}}):
        result = tasks.sleep_in_steps.enqueue(10)
        before = timezone.now()
        drain_queue()
    job = Job.objects.get(pk=result.id)
    assert job.state == JobState.RETRYABLE
    assert timedelta(seconds=599) <= job.scheduled_at - before <= timedelta(seconds=601)
    assert job.errors[0]["exception"] == "django_oban.runtime.timeouts.JobTimeout"
