"""The module-level management functions, their async twins and the instance shortcuts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ValidationError
from django.utils import timezone

import django_oban
from django_oban import JobExecutingError, JobState
from django_oban.models import Job

from .conftest import make_job, snapshot

pytestmark = pytest.mark.django_db


class TestCancel:
    def test_by_id_and_by_instance(self):
        by_id, by_instance = make_job(), make_job(JobState.EXECUTING)

        assert django_oban.cancel_job(by_id.pk) is None
        django_oban.cancel_job(by_instance)

        assert by_instance.state == JobState.CANCELLED  # the instance passed in is refreshed
        assert by_instance.cancelled_at is not None
        by_id.refresh_from_db()
        assert by_id.state == JobState.CANCELLED

    def test_many_counts_only_cancelled_jobs(self):
        jobs = [make_job(), make_job(JobState.SCHEDULED), make_job(JobState.COMPLETED)]

        assert django_oban.cancel_many_jobs(jobs) == 2
        assert django_oban.cancel_many_jobs([job.pk for job in jobs]) == 0

    def test_unknown_ids_are_ignored(self):
        assert django_oban.cancel_many_jobs([123456789]) == 0
        assert django_oban.cancel_job(123456789) is None


class TestRetry:
    def test_by_instance_refreshes_it(self):
        job = make_job(JobState.DISCARDED, attempt=20, max_attempts=20)

        django_oban.retry_job(job)

        assert job.state == JobState.AVAILABLE
        assert job.max_attempts == 21
        assert job.discarded_at is None

    def test_many_mixed_ids_and_instances(self):
        a, b, c = make_job(JobState.RETRYABLE), make_job(JobState.CANCELLED), make_job(JobState.EXECUTING)

        assert django_oban.retry_many_jobs([a, b.pk, c]) == 2

        assert a.state == JobState.AVAILABLE
        assert c.state == JobState.EXECUTING
        b.refresh_from_db()
        assert b.state == JobState.AVAILABLE


class TestDelete:
    def test_delete_job_by_id_and_instance(self):
        a, b = make_job(JobState.COMPLETED), make_job()

        django_oban.delete_job(a.pk)
        django_oban.delete_job(b)

        assert not Job.objects.exists()

    def test_executing_jobs_are_left_untouched(self):
        running, done = make_job(JobState.EXECUTING), make_job(JobState.DISCARDED)

        assert django_oban.delete_many_jobs([running, done.pk]) == 1
        django_oban.delete_job(running)

        assert list(Job.objects.all()) == [running]

    def test_instance_delete_of_executing_job_raises_and_deletes_nothing(self):
        running = make_job(JobState.EXECUTING)

        with pytest.raises(JobExecutingError):
            running.delete()

        assert Job.objects.filter(pk=running.pk).exists()

    def test_instance_delete(self):
        job = make_job(JobState.COMPLETED)
        pk = job.pk

        assert job.delete() == (1, {"django_oban.Job": 1})

        assert job.pk is None
        assert not Job.objects.filter(pk=pk).exists()


class TestUpdateFields:
    @pytest.mark.parametrize(
        ("field", "value", "stored"),
        [
            ("args", {"to": "a@example.com"}, {"to": "a@example.com"}),
            ("meta", {"batch": 7}, {"batch": 7}),
            ("max_attempts", 3, 3),
            ("priority", 9, 9),
            ("queue", "critical", "critical"),
            ("worker", "tests.workers.SendEmail", "tests.workers.SendEmail"),
            ("tags", ["Urgent ", "b", "urgent", ""], ["b", "urgent"]),
        ],
    )
    def test_each_updatable_field(self, field, value, stored):
        job = make_job()

        updated = django_oban.update_job(job.pk, {field: value})

        assert getattr(updated, field) == stored
        job.refresh_from_db()
        assert getattr(job, field) == stored

    def test_only_named_fields_are_written(self):
        job = make_job(priority=2, meta={"keep": True})
        Job.objects.filter(pk=job.pk).update(queue="moved")  # a concurrent change the instance has not seen

        django_oban.update_job(job, {"priority": 5})

        assert (job.priority, job.queue, job.meta) == (5, "moved", {"keep": True})

    def test_scheduled_at_into_the_future_schedules_an_available_job(self):
        job = make_job()
        when = timezone.now() + timedelta(hours=2)

        updated = django_oban.update_job(job, {"scheduled_at": when})

        assert (updated.state, updated.scheduled_at) == (JobState.SCHEDULED, when)

    @pytest.mark.parametrize("key", ["schedule_in", "scheduled_in"])
    def test_schedule_in_zero_makes_a_scheduled_job_available(self, key):
        job = make_job(JobState.SCHEDULED)

        updated = django_oban.update_job(job, {key: 0})

        assert updated.state == JobState.AVAILABLE
        assert updated.scheduled_at <= timezone.now()

    @pytest.mark.parametrize("delay", [60, 60.5, timedelta(minutes=1)])
    def test_schedule_in_seconds_or_timedelta(self, delay):
        job = make_job()
        before = timezone.now()

        updated = django_oban.update_job(job, {"schedule_in": delay})

        assert updated.state == JobState.SCHEDULED
        assert before + timedelta(seconds=59) < updated.scheduled_at < timezone.now() + timedelta(seconds=61)

    @pytest.mark.parametrize("state", [JobState.RETRYABLE, JobState.EXECUTING, JobState.COMPLETED])
    def test_rescheduling_keeps_other_states(self, state):
        job = make_job(state)

        assert django_oban.update_job(job, {"schedule_in": 3600}).state == state
        assert django_oban.update_job(job, {"schedule_in": 0}).state == state

    def test_updating_an_executing_job_is_allowed(self):
        job = make_job(JobState.EXECUTING)

        updated = django_oban.update_job(job, {"args": {"n": 2}, "priority": 1})

        assert (updated.state, updated.args, updated.priority) == (JobState.EXECUTING, {"n": 2}, 1)

    def test_callable_receives_the_current_job(self):
        job = make_job(tags=["a"], meta={"x": 1})

        updated = django_oban.update_job(job.pk, lambda j: {"tags": j.tags + ["processed"], "meta": {**j.meta, "y": 2}})

        assert updated.tags == ["a", "processed"]
        assert updated.meta == {"x": 1, "y": 2}

    def test_callable_update_many_is_per_job(self):
        jobs = [make_job(meta={"n": n}) for n in range(3)]

        updated = django_oban.update_many_jobs(jobs, lambda j: {"priority": j.meta["n"] + 1})

        assert [job.priority for job in updated] == [1, 2, 3]
        assert [job.priority for job in jobs] == [1, 2, 3]

    def test_callable_may_return_no_changes_for_a_job(self):
        skip, change = make_job(priority=1), make_job(priority=2)

        updated = django_oban.update_many_jobs([skip, change], lambda j: {"priority": 0} if j.priority == 2 else {})

        assert [job.priority for job in updated] == [1, 0]

    def test_many_returns_jobs_in_input_order(self):
        a, b, c = make_job(), make_job(), make_job()

        updated = django_oban.update_many_jobs([c.pk, a, b.pk], {"priority": 7})

        assert [job.pk for job in updated] == [c.pk, a.pk, b.pk]
        assert all(job.priority == 7 for job in updated)
        assert a.priority == 7

    def test_instance_shortcut(self):
        job = make_job()

        assert job.update({"queue": "mailers"}) is job
        assert job.queue == "mailers"


class TestUpdateValidation:
    """Every invalid update raises ValidationError naming the field and changes no job."""

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"state": "completed"}, "state"),
            ({"attempt": 0}, "attempt"),
            ({"errors": []}, "errors"),
            ({"id": 5}, "id"),
            ({"prority": 1}, "prority"),
            ({"priority": -1}, "priority"),
            ({"priority": 10}, "priority"),
            ({"priority": "1"}, "priority"),
            ({"priority": True}, "priority"),
            ({"queue": ""}, "queue"),
            ({"queue": " \t "}, "queue"),
            ({"queue": None}, "queue"),
            ({"worker": ""}, "worker"),
            ({"worker": "   "}, "worker"),
            ({"max_attempts": 0}, "max_attempts"),
            ({"max_attempts": 2.5}, "max_attempts"),
            ({"tags": "urgent"}, "tags"),
            ({"tags": ["ok", 3]}, "tags"),
            ({"args": ["not", "a", "dict"]}, "args"),
            ({"args": {"when": object()}}, "args"),
            ({"args": {"x": float("nan")}}, "args"),
            ({"meta": "text"}, "meta"),
            ({"scheduled_at": "not a date"}, "scheduled_at"),
            ({"scheduled_at": 5}, "scheduled_at"),
            ({"schedule_in": "soon"}, "schedule_in"),
            ({"schedule_in": float("inf")}, "schedule_in"),
            ({"schedule_in": 10, "scheduled_at": timezone.now()}, "scheduled_at"),
            ({"priority": 1, "queue": ""}, "queue"),
        ],
    )
    def test_rejected_changes_touch_no_job(self, changes, field):
        jobs = [make_job(), make_job(JobState.SCHEDULED), make_job(JobState.EXECUTING)]
        before = snapshot()

        with pytest.raises(ValidationError) as raised:
            django_oban.update_many_jobs(jobs, changes)

        assert field in raised.value.message_dict
        assert snapshot() == before

    def test_max_attempts_below_a_jobs_attempt_is_rejected_for_all(self):
        jobs = [make_job(), make_job(JobState.RETRYABLE, attempt=4, max_attempts=10)]
        before = snapshot()

        with pytest.raises(ValidationError) as raised:
            django_oban.update_many_jobs(jobs, {"max_attempts": 3})

        assert "max_attempts" in raised.value.message_dict
        assert snapshot() == before

    def test_callable_invalid_for_one_job_changes_no_job(self):
        jobs = [make_job(meta={"p": 1}), make_job(meta={"p": 12}), make_job(meta={"p": 2})]
        before = snapshot()

        with pytest.raises(ValidationError) as raised:
            django_oban.update_many_jobs(jobs, lambda j: {"priority": j.meta["p"]})

        assert f"Job {jobs[1].pk}" in raised.value.message_dict["priority"][0]
        assert snapshot() == before

    def test_callable_errors_of_every_job_are_reported_together(self):
        jobs = [make_job(), make_job(JobState.RETRYABLE, attempt=5), make_job()]
        before = snapshot()

        with pytest.raises(ValidationError) as raised:
            django_oban.update_many_jobs(jobs, lambda j: {"max_attempts": 2} if j.attempt else {"queue": " "})

        errors = raised.value.message_dict
        assert [m.split(":")[0] for m in errors["queue"]] == [f"Job {jobs[0].pk}", f"Job {jobs[2].pk}"]
        assert errors["max_attempts"][0].startswith(f"Job {jobs[1].pk}:")
        assert snapshot() == before

    def test_callable_must_return_a_dict(self):
        job = make_job()
        with pytest.raises(ValidationError):
            django_oban.update_job(job, lambda j: ["priority", 1])

    def test_unknown_id_raises_does_not_exist_and_changes_nothing(self):
        job = make_job()
        before = snapshot()

        with pytest.raises(Job.DoesNotExist, match="987654"):
            django_oban.update_many_jobs([job.pk, 987654], {"priority": 5})
        with pytest.raises(Job.DoesNotExist):
            django_oban.update_many_jobs([job.pk, 987654], lambda j: {"priority": 5})

        assert snapshot() == before

    def test_rejected_update_inside_a_transaction_leaves_it_usable(self):
        from django.db import transaction

        job = make_job(JobState.RETRYABLE, attempt=3)
        with transaction.atomic():
            with pytest.raises(ValidationError):
                django_oban.update_job(job, {"max_attempts": 1})  # broken in the database
            django_oban.update_job(job, {"priority": 4})
        job.refresh_from_db()
        assert job.priority == 4


class TestArguments:
    @pytest.mark.parametrize("bad", ["12", 1.0, None, True])
    def test_anything_but_jobs_and_ids_is_a_type_error(self, bad):
        with pytest.raises(TypeError):
            django_oban.cancel_many_jobs([bad])

    def test_a_single_id_to_a_many_function_is_a_type_error(self):
        with pytest.raises(TypeError):
            django_oban.retry_many_jobs(5)

    def test_unsaved_job_is_rejected(self):
        with pytest.raises(ValueError, match="unsaved"):
            django_oban.cancel_job(Job(worker="x.Y"))


class TestAsyncTwins:
    def test_every_function_has_a_twin(self):
        for name in ("cancel", "retry", "delete", "update"):
            for suffix in ("job", "many_jobs"):
                twin = getattr(django_oban, f"a{name}_{suffix}")
                assert twin.__name__ == f"a{name}_{suffix}"

    def test_twins_do_the_same_work(self):
        cancel, retry, update, delete = make_job(), make_job(JobState.COMPLETED), make_job(), make_job()

        async def run():
            await django_oban.acancel_job(cancel)
            count = await django_oban.aretry_many_jobs([retry.pk])
            updated = await django_oban.aupdate_many_jobs([update], {"priority": 2})
            await django_oban.adelete_job(delete.pk)
            await cancel.aretry()
            return count, updated

        count, updated = async_to_sync(run)()

        assert count == 1
        assert updated[0].priority == 2
        assert cancel.state == JobState.AVAILABLE
        assert not Job.objects.filter(pk=delete.pk).exists()

    def test_queryset_twins(self):
        make_job()
        make_job(JobState.COMPLETED)

        async def run():
            return await Job.objects.all().acancel(), await Job.objects.all().aretry(), await Job.objects.astats()

        cancelled, retried, stats = async_to_sync(run)()

        assert (cancelled, retried) == (1, 2)
        assert stats["default"]["available"] == 2
