"""OBAN["TESTING"]: "inline" runs a job once the enqueue's transaction commits, "manual" only inserts."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.db import transaction
from django.test import override_settings

from django_oban.models import Job
from django_oban.runtime.inline import INLINE_NODE
from django_oban.states import JobState
from django_oban.tasks.compat import TaskResultStatus
from django_oban.testing import drain_queue
from tests.workers import Noop

from . import tasks

pytestmark = pytest.mark.django_db


def oban(mode: str | None) -> override_settings:
    return override_settings(OBAN={"QUEUES": {"default": 10, "mailers": 5, "reports": 2}, "TESTING": mode})


def test_inline_runs_a_worker_job_when_the_transaction_commits(django_capture_on_commit_callbacks) -> None:
    with oban("inline"), django_capture_on_commit_callbacks(execute=True):
        job = Noop.enqueue({"n": 1})
        assert job.state == JobState.AVAILABLE  # not before the commit
    assert (job.state, job.attempt, job.attempted_by) == (JobState.COMPLETED, 1, [INLINE_NODE])
    assert Job.objects.get(pk=job.pk).state == JobState.COMPLETED


def test_inline_runs_a_task_and_refreshes_its_result(django_capture_on_commit_callbacks) -> None:
    with oban("inline"), django_capture_on_commit_callbacks(execute=True):
        result = tasks.add.enqueue(20, 22)
        assert result.status == TaskResultStatus.READY
    assert (result.status, result.return_value, result.worker_ids) == (TaskResultStatus.SUCCESSFUL, 42, [INLINE_NODE])


def test_inline_runs_a_scheduled_job_at_once(django_capture_on_commit_callbacks) -> None:
    with oban("inline"), django_capture_on_commit_callbacks(execute=True):
        job = Noop.enqueue(schedule_in=3600)
    assert job.state == JobState.COMPLETED


def test_inline_never_runs_a_rolled_back_enqueue(django_capture_on_commit_callbacks) -> None:
    with (
        oban("inline"),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        tasks.record_call.enqueue("rolled back")
        raise RuntimeError
    assert callbacks == [] and tasks.CALLS == [] and not Job.objects.exists()


def test_inline_records_a_failure_like_a_worker(django_capture_on_commit_callbacks) -> None:
    with oban("inline"), django_capture_on_commit_callbacks(execute=True):
        result = tasks.fail.enqueue("inline boom")
    assert result.status == TaskResultStatus.READY
    assert result.errors[0].exception_class is ValueError
    assert Job.objects.get(pk=result.id).state == JobState.RETRYABLE


@pytest.mark.parametrize("mode", ["manual", None])
def test_manual_and_off_only_insert(mode: str | None, django_capture_on_commit_callbacks) -> None:
    with oban(mode), django_capture_on_commit_callbacks(execute=True):
        job = Noop.enqueue()
        result = tasks.record_call.enqueue("later")
    assert tasks.CALLS == [] and Job.objects.get(pk=job.pk).state == JobState.AVAILABLE
    assert result.status == TaskResultStatus.READY
    assert drain_queue() == {JobState.COMPLETED: 2} and tasks.CALLS == ["later"]


def test_an_unknown_testing_mode_is_a_check_error() -> None:
    with override_settings(OBAN={"TESTING": "eager"}):
        errors = [error for error in run_checks() if error.id == "django_oban.E012"]
    assert len(errors) == 1 and "'eager'" in errors[0].msg
