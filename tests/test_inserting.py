"""Creating jobs from workers: ``new()``, ``enqueue()`` and ``insert_all()``."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
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


@pytest.mark.parametrize(
    ("field", "value", "error_field"),
    [
        ("priority", 12, "priority"),
        ("priority", True, "priority"),
        ("queue", " ", "queue"),
        ("worker", None, "worker"),
        ("max_attempts", 0, "max_attempts"),
        ("args", [], "args"),
        ("tags", "urgent", "tags"),
        ("state", "bogus", "state"),
        ("attempt", -1, "attempt"),
        ("errors", "oops", "errors"),
        ("attempted_at", "yesterday", "attempted_at"),
        ("inserted_at", None, "inserted_at"),
        ("unique", {"period": 0}, "unique"),
    ],
)
def test_a_job_changed_after_new_is_validated_when_inserted(field, value, error_field):
    jobs = [Noop.new(), Noop.new()]
    setattr(jobs[1], field, value)

    with pytest.raises(ValidationError) as raised:
        django_oban.insert_all(jobs)
    with pytest.raises(ValidationError):
        jobs[1].save()

    assert list(raised.value.message_dict) == [error_field]
    assert not Job.objects.exists()


def test_a_job_changed_after_new_is_normalised_when_inserted():
    job = Noop.new()
    job.queue, job.worker, job.tags = "  padded ", " tests.workers.Noop", ["B", " a"]
    job.scheduled_at = datetime(2030, 1, 1, 12)  # naive: read in the current time zone

    django_oban.insert_all([Noop.new(), job])

    stored = Job.objects.get(pk=job.pk)
    assert (stored.queue, stored.worker, stored.tags) == (job.queue, job.worker, job.tags) == (
        "padded", "tests.workers.Noop", ["a", "b"]
    )
    assert stored.scheduled_at == job.scheduled_at == timezone.make_aware(datetime(2030, 1, 1, 12))
    assert stored.state == JobState.SCHEDULED


@pytest.mark.parametrize(
    ("field", "value"), [("args", {"x": float("nan")}), ("meta", {"note": "nul\x00"}), ("tags", ["ok", 7])]
)
def test_the_contents_of_an_otherwise_untouched_new_job_are_validated(field, value):
    job = Noop.new()  # every other field as new() made it: only the contents are cleaned
    setattr(job, field, value)

    with pytest.raises(ValidationError) as raised:
        django_oban.insert_all([job])

    assert list(raised.value.message_dict) == [field]
    assert not Job.objects.exists()


def test_the_contents_of_an_otherwise_untouched_new_job_are_normalised():
    job = Noop.new({"n": 1})
    job.tags = ["B", " a", "b"]

    django_oban.insert_all([job])

    assert Job.objects.get(pk=job.pk).tags == job.tags == ["a", "b"]


@pytest.mark.postgres
def test_insert_all_keeps_json_values_python_finds_equal_apart():
    args = [{"a": 1}, {"a": True}, {"a": 1.0}, {"a": 1}]  # equal in Python, not in JSON
    jobs = [Noop.new(value) for value in args]

    django_oban.insert_all(jobs)

    stored = [Job.objects.get(pk=job.pk).args["a"] for job in jobs]
    assert [(type(value), value) for value in stored] == [(int, 1), (bool, True), (float, 1.0), (int, 1)]


@pytest.mark.parametrize("different", [0, 1, 499], ids=["first", "second", "last"])
def test_insert_all_stores_the_one_job_that_differs_from_the_others(different):
    jobs = [Noop.new() for _ in range(500)]
    jobs[different].priority, jobs[different].meta, jobs[different].tags = 7, {"odd": "one"}, ["odd"]

    django_oban.insert_all(jobs)

    stored = {job.pk: (job.priority, job.meta, job.tags) for job in Job.objects.all()}
    assert [stored[job.pk] for job in jobs] == [(7, {"odd": "one"}, ["odd"]) if n == different else (0, {}, [])
                                              for n in range(500)]


def test_insert_all_of_jobs_alike_in_every_column():
    now = timezone.now()
    jobs = [Noop.new({"same": True}, scheduled_at=now) for _ in range(3)]
    for job in jobs:
        job.inserted_at = now

    django_oban.insert_all(jobs)

    assert len({job.pk for job in jobs}) == 3
    stored = Job.objects.order_by("pk")
    assert [job.pk for job in stored] == sorted(job.pk for job in jobs)
    assert {(job.args["same"], job.inserted_at, job.scheduled_at) for job in stored} == {(True, now, now)}


def test_a_database_error_of_insert_all_is_djangos_and_inserts_nothing():
    taken = Noop.enqueue()
    clash = Noop.new()
    clash.pk = taken.pk

    with pytest.raises(IntegrityError), transaction.atomic():
        django_oban.insert_all([Noop.new(), Noop.new(), clash])

    assert list(Job.objects.all()) == [taken]


def test_enqueue_is_one_statement(django_assert_num_queries):
    with django_assert_num_queries(1) as captured:
        job = Noop.enqueue({"n": 1})

    assert captured.captured_queries[0]["sql"].startswith("INSERT")
    assert Job.objects.get(pk=job.pk).args == {"n": 1}


def test_each_job_carries_the_trace_context_it_was_inserted_in():
    from opentelemetry import baggage, context
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("a") as a:
        first, second = Noop.new(), Noop.new()
        django_oban.insert_all([first, second])
    with tracer.start_as_current_span("b") as b:
        other = Noop.enqueue()
        token = context.attach(baggage.set_baggage("tenant", "t1"))
        try:
            with_baggage = Noop.enqueue()
        finally:
            context.detach(token)
    untraced = Noop.enqueue()

    def span_id(job):
        return int(job.meta["otel"]["traceparent"].split("-")[2], 16)

    assert [span_id(job) for job in (first, second, other, with_baggage)] == [
        a.get_span_context().span_id,
        a.get_span_context().span_id,
        b.get_span_context().span_id,
        b.get_span_context().span_id,
    ]
    assert "baggage" not in other.meta["otel"] and with_baggage.meta["otel"]["baggage"] == "tenant=t1"
    assert "otel" not in untraced.meta
    assert first.meta["otel"] == second.meta["otel"] and first.meta["otel"] is not second.meta["otel"]
