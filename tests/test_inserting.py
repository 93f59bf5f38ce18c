"""Creating jobs from workers: ``new()``, ``enqueue()`` and ``insert_all()``."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.signals import post_save, pre_save
from django.utils import timezone

import django_oban
from django_oban import JobState
from django_oban.models import Job

from .workers import Noop, SendEmail

pytestmark = pytest.mark.django_db


def test_new_uses_class_attributes_and_does_not_save():
    job = SendEmail.new({"to": "a@example.com"})

    assert job.pk is None
    assert job.worker == "tests.workers.SendEmail"
    assert (job.queue, job.priority, job.max_attempts) == ("mailers", 3, 5)
    assert job.args == {"to": "a@example.com"}
    assert not Job.objects.exists()


def test_enqueue_saves_with_per_call_overrides():
    job = SendEmail.enqueue(
        {"to": "b@example.com"}, queue="bulk", priority=9, max_attempts=2, tags=["X"], meta={"trace": "t1"}
    )

    job = Job.objects.get(pk=job.pk)
    assert (job.queue, job.priority, job.max_attempts, job.tags, job.meta) == ("bulk", 9, 2, ["x"], {"trace": "t1"})
    assert job.state == JobState.AVAILABLE


def test_class_tags_are_normalised():
    assert SendEmail.enqueue().tags == ["email", "outbound"]


def test_schedule_in_and_scheduled_at_make_a_scheduled_job():
    later = timezone.now() + timedelta(hours=1)

    by_delay = Noop.enqueue(schedule_in=60)
    by_time = Noop.enqueue(scheduled_at=later)
    now = Noop.enqueue(schedule_in=0)

    assert by_delay.state == by_time.state == JobState.SCHEDULED
    assert by_time.scheduled_at == later
    assert now.state == JobState.AVAILABLE


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"priority": 12}, "priority"),
        ({"queue": " "}, "queue"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"tags": "urgent"}, "tags"),
        ({"schedule_in": "soon"}, "schedule_in"),
        ({"schedule_in": 5, "scheduled_at": timezone.now()}, "schedule_in"),
    ],
)
def test_enqueue_rejects_invalid_options(options, field):
    with pytest.raises(ValidationError) as raised:
        Noop.enqueue(**options)

    assert field in raised.value.message_dict
    assert not Job.objects.exists()


def test_enqueue_rejects_args_that_are_not_a_json_object():
    with pytest.raises(ValidationError):
        Noop.enqueue(["a", "list"])
    with pytest.raises(ValidationError):
        Noop.enqueue({"when": timezone.now()})


def test_insert_all_is_one_round_trip(django_assert_num_queries):
    jobs = [Noop.new({"n": n}) for n in range(10)] + [SendEmail.new(schedule_in=30)]

    with django_assert_num_queries(1):
        inserted = django_oban.insert_all(jobs)

    assert [job.pk is not None for job in inserted] == [True] * 11
    assert Job.objects.count() == 11
    assert Job.objects.get(pk=inserted[-1].pk).state == JobState.SCHEDULED


def test_insert_all_inserts_nothing_if_one_job_is_invalid():
    with pytest.raises(ValidationError):
        django_oban.insert_all([Noop.new(), Noop.new(priority=-3)])

    assert not Job.objects.exists()


def varied_jobs(count: int) -> list[Job]:
    """Jobs differing in every value a caller sets, in several time zones and scripts."""
    paris = ZoneInfo("Europe/Paris")
    return [
        Noop.new(
            {"n": n, "text": f"é\u2019{n}\"\\", "nested": {"list": [n, 1.5, None, True, "日本"]}},
            queue=f"q{n % 3}-ü",
            priority=n % 10,
            max_attempts=n + 1,
            tags=[f" Tag{n % 4} ", "b"],
            meta={"m": n},
            scheduled_at=datetime(2030, 1, 1, 12, n % 60, 7, n, tzinfo=paris) if n % 2 else None,
        )
        for n in range(count)
    ]


@pytest.mark.postgres
def test_insert_all_on_postgresql_is_one_insert_whose_ids_belong_to_the_jobs(django_assert_num_queries):
    jobs = varied_jobs(1000)

    with django_assert_num_queries(1) as captured:
        inserted = django_oban.insert_all(jobs)

    assert captured.captured_queries[0]["sql"].startswith("INSERT")
    assert all(returned is given for returned, given in zip(inserted, jobs, strict=True))
    stored = {row.pk: row for row in Job.objects.all()}
    assert len(stored) == len({job.pk for job in jobs}) == 1000
    columns = [field.attname for field in Job._meta.concrete_fields]
    for job in jobs:
        assert not job._state.adding
        assert [getattr(stored[job.pk], name) for name in columns] == [getattr(job, name) for name in columns]
    assert {job.state for job in jobs} == {JobState.AVAILABLE, JobState.SCHEDULED}


@pytest.mark.parametrize(
    "bad",
    [{"priority": 10}, {"queue": "nul\x00"}, {"args": {"x": float("nan")}}, {"tags": "urgent"}],
    ids=["priority", "queue", "args", "tags"],
)
def test_a_bad_job_at_the_end_of_a_large_batch_inserts_nothing(bad):
    jobs = [*varied_jobs(500), Noop.new(**bad)]

    with pytest.raises(ValidationError) as error:
        django_oban.insert_all(jobs)

    assert list(error.value.message_dict) == list(bad)
    assert not Job.objects.exists()


def test_insert_all_is_part_of_the_callers_transaction():
    with pytest.raises(RuntimeError), transaction.atomic():
        django_oban.insert_all(varied_jobs(10))
        assert Job.objects.count() == 10
        raise RuntimeError("roll back")

    assert not Job.objects.exists()


def test_insert_all_keeps_the_ids_jobs_were_given_beside_new_ones():
    given = Noop.new({"given": True})
    given.pk = 10**12

    inserted = django_oban.insert_all([Noop.new(), given, Noop.new()])

    assert inserted[1].pk == 10**12
    assert Job.objects.get(pk=10**12).args == {"given": True}
    assert len({job.pk for job in inserted}) == Job.objects.count() == 3


def test_enqueue_sends_djangos_model_save_signals():
    seen = []

    def pre(sender, instance, **kwargs):
        seen.append(("pre_save", sender, instance.pk, kwargs["raw"], kwargs["update_fields"]))

    def post(sender, instance, created, **kwargs):
        seen.append(("post_save", sender, instance.pk, created, Job.objects.filter(pk=instance.pk).exists()))

    pre_save.connect(pre, sender=Job)
    post_save.connect(post, sender=Job)
    try:
        job = Noop.enqueue()
    finally:
        pre_save.disconnect(pre, sender=Job)
        post_save.disconnect(post, sender=Job)

    assert seen == [("pre_save", Job, None, False, None), ("post_save", Job, job.pk, True, True)]


def test_enqueue_is_transactional():
    with pytest.raises(RuntimeError), transaction.atomic():
        Noop.enqueue()
        raise RuntimeError("roll back")

    assert not Job.objects.exists()


def test_aenqueue():
    job = async_to_sync(Noop.aenqueue)({"a": 1})

    assert Job.objects.get(pk=job.pk).args == {"a": 1}


@pytest.mark.parametrize("jobs", [[1], [None], None, 5, "jobs"], ids=repr)
def test_insert_all_of_anything_but_jobs_is_a_type_error(jobs):
    with pytest.raises(TypeError, match="insert_all"):
        django_oban.insert_all(jobs)

    assert not Job.objects.exists()


def test_insert_all_refuses_a_saved_job_before_inserting_any():
    saved = Noop.enqueue()

    with pytest.raises(ValueError, match="already saved"):
        django_oban.insert_all([Noop.new(), saved])

    assert list(Job.objects.all()) == [saved]
