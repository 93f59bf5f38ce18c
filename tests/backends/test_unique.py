"""Unique tasks: the backend's ``UNIQUE`` option, for every task or per task, on every engine."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_oban.backends import ObanBackend
from django_oban.models import Job
from django_oban.states import JobState
from django_oban.tasks.compat import TaskResultStatus, task_enqueued
from django_oban.testing import drain_queue
from tests.conftest import snapshot

from . import tasks

pytestmark = pytest.mark.django_db

Status = TaskResultStatus


def backend_options(options: dict) -> override_settings:
    return override_settings(TASKS={"default": {"BACKEND": "django_oban.backends.ObanBackend", "OPTIONS": options}})


@contextmanager
def enqueued_ids():
    """The ids of the results ``task_enqueued`` is sent with, in order."""
    ids: list[str] = []

    def receiver(sender, task_result, **kwargs):
        ids.append(task_result.id)

    task_enqueued.connect(receiver)
    try:
        yield ids
    finally:
        task_enqueued.disconnect(receiver)


def test_a_duplicate_enqueue_returns_the_existing_tasks_result_and_inserts_nothing() -> None:
    with backend_options({"UNIQUE": {"period": 300}}), enqueued_ids() as sent:
        first = tasks.add.enqueue(1, 2)
        again = tasks.add.enqueue(1, 2)
        other = tasks.add.enqueue(2, 1)
    assert again.id == first.id and other.id != first.id
    assert (again.status, again.args, again.enqueued_at) == (Status.READY, [1, 2], first.enqueued_at)
    assert Job.objects.filter(worker=tasks.add.module_path).count() == 2
    assert sent == [first.id, other.id]  # nothing was enqueued by the duplicate


def test_per_task_unique_options_override_the_backends_and_none_switches_them_off() -> None:
    options = {
        "UNIQUE": {},
        "TASKS": {
            "tests.backends.tasks.echo": {"UNIQUE": {"keys": ["kwargs"]}},
            "tests.backends.tasks.record_call": {"UNIQUE": None},
        },
    }
    with backend_options(options):
        first = tasks.echo.enqueue(1, key="k")
        same_kwargs = tasks.echo.enqueue(2, key="k")
        added = [tasks.add.enqueue(1, 2).id for _ in range(2)]
        recorded = [tasks.record_call.enqueue("a").id for _ in range(2)]
    assert same_kwargs.id == first.id and same_kwargs.args == [1]  # the existing job's call
    assert added[0] == added[1] and recorded[0] != recorded[1]


def test_a_finished_task_counts_when_its_state_is_in_states() -> None:
    states = ["available", "scheduled", "executing", "retryable", "completed"]
    with backend_options({"UNIQUE": {"states": states}}):
        first = tasks.add.enqueue(20, 22)
        assert drain_queue() == {JobState.COMPLETED: 1}
        again = tasks.add.enqueue(20, 22)
    assert again.id == first.id and (again.status, again.return_value) == (Status.SUCCESSFUL, 42)
    with backend_options({"UNIQUE": {}}):
        finished = tasks.add.enqueue(1, 1)
        assert drain_queue() == {JobState.COMPLETED: 1}
        assert tasks.add.enqueue(1, 1).id != finished.id  # by default a finished task does not count


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"UNIQUE": {"period": 0}}, "OPTIONS['UNIQUE'] period must be whole seconds"),
        ({"UNIQUE": ["period"]}, "OPTIONS['UNIQUE'] must be a dict of options"),
        ({"UNIQUE": {"fields": ["args"]}}, "fields must include 'worker'"),
        (
            {"TASKS": {"tests.backends.tasks.add": {"UNIQUE": {"keys": ["account_id"]}}}},
            "['tests.backends.tasks.add']['UNIQUE'] keys must be",
        ),
    ],
)
def test_invalid_unique_options_are_reported_by_check_and_refused_at_enqueue(options: dict, message: str) -> None:
    backend = ObanBackend("default", {"OPTIONS": options})
    errors = [error.msg for error in backend.check() if error.id == "django_oban.E020"]
    assert len(errors) == 1 and message in errors[0]
    before = snapshot()
    with backend_options(options), pytest.raises(ImproperlyConfigured, match="UNIQUE option of task"):
        tasks.add.enqueue(1, 2)
    assert snapshot() == before
