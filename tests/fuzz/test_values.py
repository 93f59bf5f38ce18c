"""Hostile field values on every way a job is written: refused with a ``ValidationError`` naming
the field and saying why, never a database error, and nothing changed; values at the limits
are stored and read back exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

import django_oban
from django_oban.changes import (
    MAX_JSON_DEPTH,
    MAX_NAME_LENGTH,
    SCHEDULE_IN_KEYS,
    UPDATABLE_FIELDS,
    clean_scheduled_at,
)
from django_oban.models import Job
from django_oban.states import JobState
from tests.conftest import make_job
from tests.workers import Noop

from .hostile import (
    ANY_TEXT,
    BAD_JSON,
    BAD_MAX_ATTEMPTS,
    BAD_NAMES,
    BAD_PRIORITIES,
    BAD_SCHEDULE_IN,
    BAD_SCHEDULED_AT,
    BAD_TAGS,
    FUZZ,
    GOOD_JSON,
    JSON_LIKE,
    JSON_OBJECTS,
    SCALARS,
    SQL_LOOKING,
    nested,
    nothing_changes,
    random_text,
    same_json,
    savepoint,
)

pytestmark = pytest.mark.django_db

#: Every way to write a new job, given the options of ``Worker.new``.
INSERTS: dict[str, Callable[..., Any]] = {
    "enqueue": lambda **options: Noop.enqueue(**options),
    "new().save()": lambda **options: Noop.new(**options).save(),
    "insert_all": lambda **options: django_oban.insert_all([Noop.new(), Noop.new(**options)]),
}

#: Every way to update jobs: (the two jobs of the ``jobs`` fixture, the changes).
UPDATES: dict[str, Callable[[list[Job], Any], Any]] = {
    "update_job": lambda jobs, changes: django_oban.update_job(jobs[0].pk, changes),
    "Job.update": lambda jobs, changes: jobs[0].update(changes),
    "update_many_jobs": lambda jobs, changes: django_oban.update_many_jobs([job.pk for job in jobs], changes),
    "QuerySet.update_many": lambda jobs, changes: Job.objects.all().update_many(changes),
    "QuerySet.update_many(callable)": lambda jobs, changes: Job.objects.all().update_many(lambda job: changes),
}

#: Bad values per option of ``Worker.new`` / key of the changes.
BAD_OPTIONS: list[tuple[str, str, Any, str]] = [
    *[("args", label, value, message) for label, value, message in BAD_JSON if value is not None],
    *[("meta", label, value, message) for label, value, message in BAD_JSON if value is not None],
    *[("queue", label, value, message) for label, value, message in BAD_NAMES],
    *[("tags", label, value, message) for label, value, message in BAD_TAGS],
    *[("priority", label, value, message) for label, value, message in BAD_PRIORITIES if value is not None],
    *[("max_attempts", label, value, message) for label, value, message in BAD_MAX_ATTEMPTS],
    *[("scheduled_at", label, value, message) for label, value, message in BAD_SCHEDULED_AT],
    *[("schedule_in", label, value, message) for label, value, message in BAD_SCHEDULE_IN],
]
#: The first bad value of each option: enough to show a surface applies every option's rules.
FIRST_PER_OPTION = [
    next(case for case in BAD_OPTIONS if case[0] == option) for option in dict.fromkeys(case[0] for case in BAD_OPTIONS)
]


def grid(surfaces: Iterable[str], full_surface: str) -> list[Any]:
    """Every bad value on ``full_surface``, the first of each option on the other surfaces.

    Every surface validates with the same rules (``changes.py``): running each of them on the
    whole list would only repeat those rules, at a CI cost.
    """
    return [
        pytest.param(surface, *case, id=f"{surface}-{case[0]}: {case[1]}")
        for surface in surfaces
        for case in (BAD_OPTIONS if surface == full_surface else FIRST_PER_OPTION)
    ]


@pytest.fixture
def jobs() -> list[Job]:
    """An available job and an executing one (updates act on executing jobs too)."""
    return [make_job(JobState.AVAILABLE), make_job(JobState.EXECUTING)]


def assert_refused(error: pytest.ExceptionInfo[ValidationError], field: str, message: str) -> None:
    messages = error.value.message_dict
    assert field in messages, messages
    assert any(message in text for text in messages[field]), messages


@pytest.mark.parametrize(("surface", "option", "label", "value", "message"), grid(INSERTS, full_surface="enqueue"))
def test_a_new_job_with_a_bad_value_is_refused(surface: str, option: str, label: str, value: Any, message: str) -> None:
    with nothing_changes(), pytest.raises(ValidationError) as error:
        INSERTS[surface](**{option: value})
    assert_refused(error, option, message)


@pytest.mark.parametrize(
    ("surface", "option", "label", "value", "message"), grid(UPDATES, full_surface="update_many_jobs")
)
def test_an_update_with_a_bad_value_changes_no_job(
    jobs: list[Job], surface: str, option: str, label: str, value: Any, message: str
) -> None:
    with nothing_changes(), pytest.raises(ValidationError) as error:
        UPDATES[surface](jobs, {option: value})
    assert_refused(error, option, message)


@pytest.mark.parametrize(("label", "value", "message"), BAD_NAMES, ids=[label for label, _, _ in BAD_NAMES])
def test_a_bad_worker_name_is_refused_on_save_and_update(jobs: list[Job], label: str, value: Any, message: str) -> None:
    with nothing_changes():
        with pytest.raises(ValidationError) as error:
            Job.objects.create(worker=value)
        assert_refused(error, "worker", message)
        with pytest.raises(ValidationError) as error:
            django_oban.update_many_jobs(jobs, {"worker": value})
        assert_refused(error, "worker", message)


@pytest.mark.parametrize(("label", "value", "message"), BAD_JSON, ids=[case[0] for case in BAD_JSON])
def test_full_clean_refuses_bad_args(label: str, value: Any, message: str) -> None:
    job = Noop.new()
    job.args = value
    with pytest.raises(ValidationError) as error:
        job.full_clean()
    assert any(message in text for text in error.value.message_dict["args"]), error.value.message_dict


def test_a_bad_value_for_one_job_of_a_callable_update_changes_no_job(jobs: list[Job]) -> None:
    first, second = jobs

    def changes(job: Job) -> dict[str, Any]:
        return {"priority": 5} if job.pk == first.pk else {"meta": {"note": "\x00"}}

    with nothing_changes(), pytest.raises(ValidationError) as error:
        Job.objects.all().update_many(changes)
    assert any(f"Job {second.pk}" in text and "NUL" in text for text in error.value.message_dict["meta"])


@pytest.mark.django_db(transaction=True)
def test_the_async_twins_refuse_like_the_sync_functions() -> None:
    job = make_job(JobState.AVAILABLE)
    calls = {
        "aenqueue": lambda: Noop.aenqueue({"a": "\x00"}),
        "ainsert_all": lambda: django_oban.ainsert_all([Noop.new({"a": "\x00"})]),
        "aupdate_job": lambda: django_oban.aupdate_job(job.pk, {"args": {"a": "\x00"}}),
        "aupdate_many_jobs": lambda: django_oban.aupdate_many_jobs([job], {"args": {"a": "\x00"}}),
        "Job.aupdate": lambda: job.aupdate({"args": {"a": "\x00"}}),
        "QuerySet.aupdate_many": lambda: Job.objects.all().aupdate_many({"args": {"a": "\x00"}}),
    }

    async def run(call: Callable[[], Any]) -> Any:
        return await call()

    for call in calls.values():
        with nothing_changes(), pytest.raises(ValidationError) as error:
            async_to_sync(run)(call)
        assert_refused(error, "args", "NUL character")


def test_every_bad_field_is_reported_at_once(jobs: list[Job]) -> None:
    changes = {"args": {"a": "\x00"}, "queue": "\ud800", "priority": 2**63, "scheduled_at": "10000-01-01", "bogus": 1}
    with nothing_changes(), pytest.raises(ValidationError) as error:
        django_oban.update_job(jobs[0], changes)
    assert set(error.value.message_dict) == {"args", "queue", "priority", "scheduled_at", "bogus"}


# -- values at the limits are stored exactly --------------------------------------------------


@pytest.mark.parametrize(("label", "value"), GOOD_JSON, ids=[label for label, _ in GOOD_JSON])
def test_json_at_the_limits_is_stored_and_read_back_exactly(jobs: list[Job], label: str, value: dict[str, Any]) -> None:
    job = Noop.enqueue(value, meta=value)
    stored = Job.objects.get(pk=job.pk)
    assert same_json(stored.args, value)
    assert same_json(stored.meta, value)
    django_oban.update_job(jobs[1], {"args": value})
    assert same_json(Job.objects.get(pk=jobs[1].pk).args, value)


def test_nesting_at_the_limit_loads_inside_a_deep_call_stack() -> None:
    """The worker and the admin load args far down their call stacks: the limit leaves room for that."""
    job = Noop.enqueue(nested(MAX_JSON_DEPTH))

    def load_at_depth(depth: int) -> Any:
        return load_at_depth(depth - 1) if depth else Job.objects.get(pk=job.pk).args

    assert load_at_depth(400) == nested(MAX_JSON_DEPTH)


def test_names_of_the_longest_incompressible_text_are_stored_indexed_and_notified() -> None:
    """255 characters of 4 bytes each fit the B-tree indexes and the NOTIFY payload of the queue."""
    name = random_text(MAX_NAME_LENGTH)
    job = Noop.enqueue(queue=name, tags=[random_text(3000, seed=2)])
    Job.objects.create(worker=name, queue=name)
    assert Job.objects.get(pk=job.pk).queue == name
    assert Job.objects.filter(worker=name, queue=name).count() == 1
    assert list(Job.objects.tagged(random_text(3000, seed=2))) == [job]


@pytest.mark.parametrize("text", SQL_LOOKING)
def test_sql_looking_text_is_stored_verbatim(text: str) -> None:
    job = Noop.enqueue({"q": text}, queue=text, tags=[text], meta={text: text})
    stored = Job.objects.get(pk=job.pk)
    expected = (text.strip(), {"q": text}, {text: text}, [text.strip().lower()])
    assert (stored.queue, stored.args, stored.meta, stored.tags) == expected
    assert Job.objects.count() == 1
    assert list(Job.objects.filter(queue=text)) == [job]


def test_a_naive_scheduled_at_is_read_in_the_current_time_zone(jobs: list[Job]) -> None:
    with timezone.override("Asia/Tokyo"):
        job = Noop.enqueue(scheduled_at=datetime(2030, 1, 1, 9, 0))
        django_oban.update_job(jobs[0], {"scheduled_at": "2030-01-01T09:00:00"})
    expected = datetime(2030, 1, 1, 0, 0, tzinfo=dt_timezone.utc)
    assert Job.objects.get(pk=job.pk).scheduled_at == expected
    assert Job.objects.get(pk=jobs[0].pk).scheduled_at == expected
    assert job.state == JobState.SCHEDULED


@pytest.mark.parametrize(
    "moment",
    [datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt_timezone.utc), datetime(1, 1, 1, tzinfo=dt_timezone.utc)],
    ids=["last moment of 9999", "first moment of year 1"],
)
def test_the_extreme_representable_times_are_stored(jobs: list[Job], moment: datetime) -> None:
    job = Noop.enqueue(scheduled_at=moment)
    django_oban.update_job(jobs[0], {"scheduled_at": moment})
    assert Job.objects.get(pk=job.pk).scheduled_at == moment
    assert Job.objects.get(pk=jobs[0].pk).scheduled_at == moment


def test_schedule_in_zero_is_now() -> None:
    assert Noop.enqueue(schedule_in=0).state == JobState.AVAILABLE
    assert Noop.enqueue(schedule_in=timedelta(0)).state == JobState.AVAILABLE


@override_settings(USE_TZ=False)
def test_without_time_zones_scheduled_at_is_naive_local_time() -> None:
    aware = datetime(2030, 1, 1, 12, tzinfo=dt_timezone.utc)
    with timezone.override("Asia/Tokyo"):
        assert clean_scheduled_at(aware) == datetime(2030, 1, 1, 21)
        assert clean_scheduled_at("2030-01-01T12:00:00") == datetime(2030, 1, 1, 12)
    with pytest.raises(ValueError, match="years 1 to 9999"):
        clean_scheduled_at("9999-12-31T23:00:00-05:00")


# -- generated input -------------------------------------------------------------------------


@FUZZ
@given(args=JSON_OBJECTS)
def test_any_args_are_stored_exactly_or_refused(args: dict[Any, Any]) -> None:
    with savepoint():
        before = Job.objects.count()
        try:
            job = Noop.enqueue(args, meta=args)
        except ValidationError as error:
            assert set(error.message_dict) <= {"args", "meta"}
            assert Job.objects.count() == before
        else:
            stored = Job.objects.get(pk=job.pk)
            assert same_json(stored.args, args)
            assert same_json(stored.meta, args)


@FUZZ
@given(args=st.lists(JSON_OBJECTS, min_size=2, max_size=4))
def test_any_args_inserted_together_are_stored_exactly_or_all_refused(args: list[dict[Any, Any]]) -> None:
    with savepoint():
        before = Job.objects.count()
        try:
            jobs = django_oban.insert_all([Noop.new(value, meta=value) for value in args])
        except ValidationError as error:
            assert set(error.message_dict) <= {"args", "meta"}
            assert Job.objects.count() == before
        else:
            for job, value in zip(jobs, args, strict=True):
                stored = Job.objects.get(pk=job.pk)
                assert same_json(stored.args, value)
                assert same_json(stored.meta, value)


@FUZZ
@given(queue=ANY_TEXT, tags=st.lists(ANY_TEXT, max_size=4))
def test_any_text_as_queue_and_tags_is_stored_or_refused(queue: str, tags: list[str]) -> None:
    with savepoint():
        before = Job.objects.count()
        try:
            job = Noop.enqueue(queue=queue, tags=tags)
        except ValidationError as error:
            assert set(error.message_dict) <= {"queue", "tags"}
            assert Job.objects.count() == before
        else:
            stored = Job.objects.get(pk=job.pk)
            assert stored.queue == queue.strip()
            assert stored.tags == sorted({tag.strip().lower() for tag in tags if tag.strip()})
            for tag in stored.tags:
                assert stored in Job.objects.tagged(tag)


CHANGE_KEYS = st.sampled_from([*UPDATABLE_FIELDS, *SCHEDULE_IN_KEYS, "state", "attempt", "id"]) | ANY_TEXT
CHANGE_VALUES = (
    SCALARS | JSON_LIKE | JSON_OBJECTS | st.lists(ANY_TEXT, max_size=3)
    | st.datetimes(timezones=st.none() | st.timezones()) | st.timedeltas() | st.dates()
)


@FUZZ
@given(changes=st.dictionaries(CHANGE_KEYS, CHANGE_VALUES, max_size=4))
def test_any_changes_are_applied_or_refused_without_a_partial_change(changes: dict[Any, Any]) -> None:
    with savepoint():
        job = make_job(JobState.AVAILABLE)
        other = make_job(JobState.EXECUTING)
        before = list(Job.objects.order_by("pk").values_list())
        try:
            updated = django_oban.update_many_jobs([job, other], changes)
        except ValidationError:
            assert list(Job.objects.order_by("pk").values_list()) == before
        else:
            for stored in Job.objects.filter(pk__in=[job.pk, other.pk]):
                assert stored.state in JobState.values
            assert [item.pk for item in updated] == [job.pk, other.pk]
