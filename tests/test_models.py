"""The Job model: defaults, normalisation and the rules the database enforces."""

from __future__ import annotations

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.signals import post_init, pre_init
from django.utils import timezone

from django_oban import JobState
from django_oban.models import Job

from .conftest import make_job, snapshot

pytestmark = pytest.mark.django_db


def test_defaults():
    job = Job.objects.create(worker="tests.workers.Noop")

    assert (job.state, job.queue, job.args, job.meta, job.tags, job.errors) == ("available", "default", {}, {}, [], [])
    assert (job.attempt, job.max_attempts, job.priority, job.attempted_by) == (0, 20, 0, [])
    assert job.inserted_at is not None and job.scheduled_at is not None
    assert Job._meta.db_table == "oban_jobs"


def test_future_scheduled_at_makes_a_new_job_scheduled():
    job = Job.objects.create(worker="tests.workers.Noop", scheduled_at=timezone.now() + timedelta(minutes=5))

    assert job.state == JobState.SCHEDULED


def test_tags_are_normalised_on_save():
    job = Job.objects.create(worker="tests.workers.Noop", tags=[" Beta", "alpha", "ALPHA", "  "])

    job.refresh_from_db()
    assert job.tags == ["alpha", "beta"]


@pytest.mark.parametrize(
    ("fields", "error_field"),
    [
        ({"priority": 10}, "priority"),
        ({"queue": "  "}, "queue"),
        ({"worker": ""}, "worker"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"args": []}, "args"),
        ({"tags": "x"}, "tags"),
    ],
)
def test_save_validates(fields, error_field):
    with pytest.raises(ValidationError) as raised:
        Job.objects.create(**{"worker": "tests.workers.Noop", **fields})

    assert error_field in raised.value.message_dict
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    "values",
    [
        {"priority": 10},
        {"priority": -1},
        {"max_attempts": 0},
        {"attempt": -1},
        {"attempt": 21},
        {"queue": ""},
        {"queue": " \t\n"},
        {"worker": " "},
        {"state": "running"},
    ],
)
def test_database_enforces_ranges_and_non_blank_values(values):
    job = make_job()

    with pytest.raises(IntegrityError), transaction.atomic():
        Job.objects.filter(pk=job.pk).update(**values)


def test_cancelled_reads_the_state_and_the_runtime_flag():
    import threading

    job = make_job(JobState.EXECUTING)
    assert not job.cancelled()

    job._cancel_event = threading.Event()
    job._cancel_event.set()
    assert job.cancelled()
    assert make_job(JobState.CANCELLED).cancelled()


def test_str():
    job = make_job()
    assert str(job) == f"tests.workers.Noop #{job.pk} (available)"


@pytest.mark.parametrize(
    ("field", "value"),
    [("args", {"a": "\x00"}), ("meta", {"\ud800": 1}), ("queue", "a\x00"), ("priority", 2**15), ("max_attempts", 2**31),
     ("scheduled_at", "garbage"), ("state", "bogus"), ("attempt", 2**31), ("errors", [{"error": "\x00"}]),
     ("attempted_by", "node"), ("completed_at", 5), ("inserted_at", None)],
    ids=repr,
)
def test_saving_an_existing_job_with_a_bad_value_is_a_validation_error_naming_it(field, value):
    job = make_job(JobState.RETRYABLE)
    before = snapshot()
    setattr(job, field, value)

    with pytest.raises(ValidationError) as error:
        job.save()

    assert field in error.value.message_dict
    assert snapshot() == before


@pytest.mark.parametrize(
    ("field", "value"),
    [("state", "bogus"), ("id", 2**64), ("id", -1), ("attempt", "x"), ("attempt", 2**40), ("errors", [{"e": "\x00"}]),
     ("attempted_by", ["\ud800"]), ("inserted_at", "garbage"), ("scheduled_at", "garbage"), ("completed_at", 5)],
    ids=repr,
)
def test_saving_a_new_job_with_a_bad_value_is_a_validation_error_naming_it(field, value):
    job = Job(worker="tests.workers.Noop")
    setattr(job, field, value)

    with pytest.raises(ValidationError) as error:
        job.save()

    assert field in error.value.message_dict
    assert not Job.objects.exists()


def test_saving_a_new_job_reads_a_naive_scheduled_at_in_the_current_time_zone():
    with timezone.override("Asia/Tokyo"):
        job = Job(worker="tests.workers.Noop", scheduled_at=datetime(2999, 1, 1, 9))
        job.save()

    stored = Job.objects.get(pk=job.pk)
    assert stored.scheduled_at == datetime(2999, 1, 1, tzinfo=dt_timezone.utc)
    assert stored.state == JobState.SCHEDULED


@pytest.mark.django_db
def test_retrying_a_job_without_unique_options_is_one_statement(django_assert_num_queries) -> None:
    """Only unique jobs need the look for a duplicate first."""
    job = make_job(JobState.DISCARDED)
    with django_assert_num_queries(1):
        job.retry()
    assert job.state == JobState.AVAILABLE


def test_unsaved_builds_the_job_the_constructor_builds():
    now = timezone.now()
    values = {"worker": "tests.workers.Noop", "args": {"a": 1}, "queue": "q", "inserted_at": now, "scheduled_at": now}
    seen = []

    def record(signal, sender, **kwargs):
        name = "pre_init" if signal is pre_init else "post_init"
        seen.append((name, sender, kwargs.get("args"), dict(kwargs.get("kwargs", {})), type(kwargs.get("instance"))))

    pre_init.connect(record, sender=Job)
    post_init.connect(record, sender=Job)
    try:
        built, fast = Job(**values), Job.unsaved(**values)
    finally:
        pre_init.disconnect(record, sender=Job)
        post_init.disconnect(record, sender=Job)

    expected = [("pre_init", Job, (), values, type(None)), ("post_init", Job, None, {}, Job)]
    assert seen == expected + expected  # the constructor's signals, then unsaved()'s
    state = {name: value for name, value in built.__dict__.items() if name != "_state"}
    assert {name: value for name, value in fast.__dict__.items() if name != "_state"} == state
    assert (fast._state.adding, fast._state.db) == (True, None)
    other = Job.unsaved(worker="tests.workers.Noop")
    assert other.errors == fast.errors == [] and other.errors is not fast.errors  # defaults made afresh
    assert other.inserted_at >= now and other.state == JobState.AVAILABLE
    fast.save()
    assert Job.objects.get(pk=fast.pk).args == {"a": 1}


def test_unsaved_refuses_a_name_that_is_no_field():
    with pytest.raises(TypeError, match="colour"):
        Job.unsaved(worker="tests.workers.Noop", colour="red")
