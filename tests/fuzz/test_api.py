"""Hostile arguments to the module API, the ``Job.objects`` QuerySet methods and ``Job`` methods:
a ``TypeError`` / ``ValueError`` / ``ValidationError`` with a message, or the documented
result (unknown ids are ignored), never a database error and never a partial change.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError

import django_oban
from django_oban.models import Job
from django_oban.states import JobState
from tests.conftest import ALL_STATES, make_job
from tests.workers import Noop

from .hostile import SQL_LOOKING, nothing_changes

pytestmark = pytest.mark.django_db

#: Not an id, nor a Job: refused with a TypeError naming the value.
NOT_IDS: list[Any] = ["1", b"1", None, 1.0, 1.5, math.nan, True, object(), [1], {"id": 1}]
#: Integers that are no job's id: ignored by cancel/retry/delete, ``DoesNotExist`` for updates.
#: Ids beyond 64 bits included: no row can have one, on any engine.
NO_SUCH_IDS: list[int] = [0, -1, 2**31, 2**63 - 1, -(2**63), 2**63, 2**64, -(2**63) - 1, 10**30]

OPERATIONS: dict[str, Callable[[Any], Any]] = {
    "cancel_job": django_oban.cancel_job,
    "retry_job": django_oban.retry_job,
    "delete_job": django_oban.delete_job,
    "update_job": lambda job: django_oban.update_job(job, {"priority": 1}),
    "cancel_many_jobs": lambda job: django_oban.cancel_many_jobs([job]),
    "retry_many_jobs": lambda job: django_oban.retry_many_jobs([job]),
    "delete_many_jobs": lambda job: django_oban.delete_many_jobs([job]),
    "update_many_jobs": lambda job: django_oban.update_many_jobs([job], {"priority": 1}),
}


@pytest.fixture
def every_state() -> list[Job]:
    return [make_job(state) for state in ALL_STATES]


@pytest.mark.parametrize(
    ("operation", "value"),
    # Every function reads ids in one place (api.py): all of NOT_IDS on one, two on the others.
    [(operation, value) for operation in OPERATIONS for value in NOT_IDS
     if operation == "cancel_many_jobs" or value in ("1", None)],
    ids=repr,
)
def test_a_value_that_is_not_a_job_or_id_is_a_type_error(every_state: list[Job], operation: str, value: Any) -> None:
    with nothing_changes(), pytest.raises(TypeError, match="Expected a Job or an integer id"):
        OPERATIONS[operation](value)


@pytest.mark.parametrize("operation", ["cancel_many_jobs", "retry_many_jobs", "delete_many_jobs"])
@pytest.mark.parametrize("value", NO_SUCH_IDS)
def test_ids_of_no_job_are_ignored_by_cancel_retry_delete(every_state: list[Job], operation: str, value: int) -> None:
    with nothing_changes():
        assert getattr(django_oban, operation)([value]) == 0


@pytest.mark.parametrize("value", NO_SUCH_IDS)
def test_updating_an_id_of_no_job_is_does_not_exist(every_state: list[Job], value: int) -> None:
    with nothing_changes(), pytest.raises(Job.DoesNotExist, match=str(value)):
        django_oban.update_many_jobs([every_state[0].pk, value], {"priority": 1})


@pytest.mark.parametrize("value", ["123", b"123", 123, Noop.new(), None], ids=repr)
def test_a_many_function_needs_a_list(value: Any) -> None:
    with nothing_changes(), pytest.raises(TypeError):
        django_oban.cancel_many_jobs(value)


def test_an_unsaved_job_is_refused() -> None:
    with nothing_changes(), pytest.raises(ValueError, match="unsaved"):
        django_oban.cancel_job(Noop.new())


@pytest.mark.parametrize(
    "changes",
    ["priority", None, 5, [("priority", 1)], {"state": "completed"}, {"attempt": 0}, {"id": 1}, {"errors": []},
     {None: 1}, {1: 1}, {"priority\x00": 1}],
    ids=repr,
)
def test_changes_that_are_not_a_dict_of_updatable_fields_are_refused(every_state: list[Job], changes: Any) -> None:
    with nothing_changes(), pytest.raises(ValidationError):
        django_oban.update_many_jobs(every_state, changes)


@pytest.mark.parametrize("result", [None, "priority", [("priority", 1)], 5, {"state": "completed"}], ids=repr)
def test_a_callable_returning_something_else_than_valid_changes_changes_no_job(
    every_state: list[Job], result: Any
) -> None:
    with nothing_changes(), pytest.raises(ValidationError):
        Job.objects.all().update_many(lambda job: result)


def test_a_callable_that_raises_changes_no_job(every_state: list[Job]) -> None:
    def changes(job: Job) -> dict[str, Any]:
        if job.pk == every_state[-1].pk:
            raise RuntimeError("boom")
        return {"priority": 9}

    with nothing_changes(), pytest.raises(RuntimeError, match="boom"):
        django_oban.update_many_jobs(every_state, changes)


@pytest.mark.parametrize("text", [*SQL_LOOKING, "😀", "\u202eevil", "q" * 10_000])
def test_filters_and_stats_with_hostile_names_count_exactly(text: str) -> None:
    make_job(queue="default")
    Noop.enqueue(queue=text[:255], tags=[text])
    stats = Job.objects.stats()
    assert stats[text[:255].strip()][JobState.AVAILABLE] == 1
    assert stats["default"][JobState.AVAILABLE] == 1
    assert Job.objects.tagged(text).count() == 1
    assert Job.objects.filter(queue=text).cancel() == (1 if len(text) <= 255 else 0)


@pytest.mark.parametrize("jobs", [Noop.new(), ["job"], b"jobs"], ids=repr)
def test_insert_all_of_something_else_than_a_list_of_jobs_is_a_type_error(jobs: Any) -> None:
    with nothing_changes(), pytest.raises(TypeError, match="insert_all"):
        django_oban.insert_all(jobs)


def test_insert_all_with_one_bad_job_inserts_none() -> None:
    with nothing_changes(), pytest.raises(ValidationError, match="NUL"):
        django_oban.insert_all([Noop.new({"ok": 1}), Noop.new({"bad": "\x00"}), Noop.new()])


def test_enqueue_with_an_unknown_option_is_a_type_error_naming_it() -> None:
    with nothing_changes(), pytest.raises(TypeError, match="bogus"):
        Noop.enqueue({}, bogus=1)


def test_enqueue_with_both_schedule_options_is_refused() -> None:
    with nothing_changes(), pytest.raises(ValidationError, match="not both"):
        Noop.enqueue(schedule_in=5, scheduled_at=datetime(2030, 1, 1))


def test_a_new_job_with_a_naive_scheduled_at_is_inserted() -> None:
    job = Noop.enqueue(scheduled_at=datetime(2999, 1, 1))
    assert Job.objects.get(pk=job.pk).state == JobState.SCHEDULED


def test_prune_deletes_only_jobs_finished_longer_ago_than_the_age(every_state: list[Job]) -> None:
    old = make_job(JobState.COMPLETED, completed_at=every_state[0].inserted_at - timedelta(days=30))
    assert Job.objects.prune(older_than=timedelta(days=1)) == 1
    assert not Job.objects.filter(pk=old.pk).exists()
    assert Job.objects.count() == len(every_state)


@pytest.mark.parametrize("tag", [5, None, ["urgent"], b"urgent"], ids=repr)
def test_tagged_with_a_non_string_is_a_type_error(tag: Any) -> None:
    with pytest.raises(TypeError, match="tag"):
        Job.objects.tagged(tag)


@pytest.mark.parametrize(
    "age",
    [timedelta(days=-5), -5, -0.5, math.nan, math.inf, -math.inf, "5", None, True, timedelta.max, 10**30],
    ids=repr,
)
def test_prune_with_an_age_that_is_not_a_non_negative_duration_deletes_nothing(
    every_state: list[Job], age: Any
) -> None:
    with nothing_changes(), pytest.raises((ValueError, TypeError), match="older_than"):
        Job.objects.prune(older_than=age)
    with pytest.raises((ValueError, TypeError), match="older_than"):
        Job.objects.prunable(older_than=age)


@pytest.mark.parametrize("batch_size", [0, -1, 1.5, "10", None, True], ids=repr)
def test_prune_with_a_batch_size_below_one_is_a_value_error(every_state: list[Job], batch_size: Any) -> None:
    with nothing_changes(), pytest.raises((ValueError, TypeError), match="batch_size"):
        Job.objects.prune(older_than=0, batch_size=batch_size)


def test_skipped_by_an_unknown_operation_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="cancel, retry, delete"):
        Job.objects.skipped_by("bogus")
