"""JobQuerySet: the state x operation matrix, filters, stats, and set-based SQL."""

from __future__ import annotations

import gc
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db.models.signals import post_init
from django.utils import timezone

from django_oban.models import Job
from django_oban.operations import CANCEL, DELETE, RETRY, RUN_NOW, UPDATE
from django_oban.states import FINISHED_STATES, INCOMPLETE_STATES, JobState

from .conftest import ALL_STATES, make_job
from .unique.workers import OncePerArgs

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("state", INCOMPLETE_STATES)
def test_cancel_incomplete_job(state):
    job = make_job(state)
    before = timezone.now()

    assert Job.objects.filter(pk=job.pk).cancel() == 1

    job.refresh_from_db()
    assert job.state == JobState.CANCELLED
    assert job.cancelled_at >= before


@pytest.mark.parametrize("state", FINISHED_STATES)
def test_cancel_leaves_finished_job_untouched(state):
    job = make_job(state, cancelled_at=None if state != JobState.CANCELLED else timezone.now() - timedelta(days=1))
    stored = Job.objects.filter(pk=job.pk).values().get()

    assert Job.objects.filter(pk=job.pk).cancel() == 0

    assert Job.objects.filter(pk=job.pk).values().get() == stored


@pytest.mark.parametrize("state", [JobState.SCHEDULED, JobState.RETRYABLE, *FINISHED_STATES])
def test_retry_makes_job_available_now(state):
    job = make_job(state, scheduled_at=timezone.now() + timedelta(days=1))
    before = timezone.now()

    assert Job.objects.filter(pk=job.pk).retry() == 1

    job.refresh_from_db()
    assert job.state == JobState.AVAILABLE
    assert before <= job.scheduled_at <= timezone.now()
    assert (job.completed_at, job.cancelled_at, job.discarded_at) == (None, None, None)


@pytest.mark.parametrize("state", [JobState.AVAILABLE, JobState.EXECUTING])
def test_retry_ignores_available_and_executing_jobs(state):
    job = make_job(state)
    stored = Job.objects.filter(pk=job.pk).values().get()

    assert Job.objects.filter(pk=job.pk).retry() == 0

    assert Job.objects.filter(pk=job.pk).values().get() == stored


def test_retry_raises_max_attempts_of_an_exhausted_job():
    exhausted = make_job(JobState.DISCARDED, attempt=5, max_attempts=5)
    roomy = make_job(JobState.DISCARDED, attempt=2, max_attempts=9)

    Job.objects.filter(pk__in=[exhausted.pk, roomy.pk]).retry()

    exhausted.refresh_from_db()
    roomy.refresh_from_db()
    assert exhausted.max_attempts == 6
    assert roomy.max_attempts == 9


@pytest.mark.parametrize("state", [s for s in ALL_STATES if s != JobState.EXECUTING])
def test_delete_removes_non_executing_job(state):
    job = make_job(state)

    assert Job.objects.filter(pk=job.pk).delete() == (1, {"django_oban.Job": 1})

    assert not Job.objects.filter(pk=job.pk).exists()


def test_delete_keeps_executing_jobs():
    executing = make_job(JobState.EXECUTING)
    done = make_job(JobState.COMPLETED)

    assert Job.objects.all().delete() == (1, {"django_oban.Job": 1})

    assert list(Job.objects.values_list("pk", flat=True)) == [executing.pk]
    assert not Job.objects.filter(pk=done.pk).exists()


def test_delete_refuses_a_slice():
    make_job()
    with pytest.raises(TypeError):
        Job.objects.all()[:1].delete()


def test_operations_act_only_on_the_filtered_set():
    mailers = [make_job(queue="mailers") for _ in range(3)]
    other = make_job(queue="default")

    assert Job.objects.filter(queue="mailers").cancel() == 3

    assert set(Job.objects.cancelled().values_list("pk", flat=True)) == {job.pk for job in mailers}
    other.refresh_from_db()
    assert other.state == JobState.AVAILABLE


@pytest.mark.parametrize("state", ALL_STATES)
def test_state_filters(state):
    jobs = {s: make_job(s) for s in ALL_STATES}

    assert list(getattr(Job.objects, state)()) == [jobs[state]]


def test_incomplete_and_finished_filters():
    jobs = {s: make_job(s) for s in ALL_STATES}

    assert {j.state for j in Job.objects.incomplete()} == set(INCOMPLETE_STATES)
    assert {j.state for j in Job.objects.finished()} == set(FINISHED_STATES)
    assert Job.objects.count() == len(jobs)


def test_with_ids_selects_those_jobs_and_ignores_ids_beyond_64_bits():
    make_job()
    chosen = make_job()

    assert list(Job.objects.with_ids([chosen.pk, 2**64, -(2**63) - 1, 10**30])) == [chosen]


def test_tagged_matches_normalised_tags_only():
    tagged = make_job(tags=["email", "urgent"])
    make_job(tags=["emails"])
    make_job(tags=[])

    assert list(Job.objects.tagged(" Email ")) == [tagged]


def test_stats_counts_by_queue_and_state():
    make_job(queue="default")
    make_job(JobState.COMPLETED, queue="default")
    make_job(JobState.COMPLETED, queue="default")
    make_job(JobState.SCHEDULED, queue="mailers")

    stats = Job.objects.stats()

    assert list(stats) == ["default", "mailers"]
    assert stats["default"] == {**dict.fromkeys(ALL_STATES, 0), "available": 1, "completed": 2}
    assert stats["mailers"] == {**dict.fromkeys(ALL_STATES, 0), "scheduled": 1}


def test_skipped_by_counts_what_each_operation_leaves_alone():
    for state in ALL_STATES:
        make_job(state)

    assert Job.objects.skipped_by("cancel") == {"cancelled": 1, "completed": 1, "discarded": 1}
    assert Job.objects.skipped_by("retry") == {"available": 1, "executing": 1}
    assert Job.objects.skipped_by("delete") == {"executing": 1}


class TestPrune:
    def test_prunes_finished_jobs_older_than_the_cutoff_in_batches(self):
        old = timezone.now() - timedelta(days=2)
        for state in FINISHED_STATES:
            for _ in range(3):
                make_job(state, **{f"{state}_at": old})
        recent = make_job(JobState.COMPLETED)
        running = make_job(JobState.EXECUTING, attempted_at=old)

        assert Job.objects.prune(timedelta(days=1), batch_size=2) == 9

        assert set(Job.objects.values_list("pk", flat=True)) == {recent.pk, running.pk}

    def test_prunes_only_the_given_states(self):
        old = timezone.now() - timedelta(hours=2)
        completed = make_job(JobState.COMPLETED, completed_at=old)
        cancelled = make_job(JobState.CANCELLED, cancelled_at=old)

        assert Job.objects.prune(3600, states=["cancelled"]) == 1

        assert list(Job.objects.all()) == [completed]
        assert not Job.objects.filter(pk=cancelled.pk).exists()

    def test_refuses_incomplete_states(self):
        with pytest.raises(ValueError, match="executing"):
            Job.objects.prune(60, states=["executing"])

    @pytest.mark.parametrize(
        "older_than", [timedelta(days=-5), -1, float("nan"), float("inf"), "7", None, True, timedelta.max, 1e300]
    )
    def test_refuses_an_age_that_is_negative_or_not_a_finite_duration(self, older_than):
        make_job(JobState.COMPLETED, completed_at=timezone.now() - timedelta(hours=1))
        make_job(JobState.COMPLETED)

        with pytest.raises(ValueError, match="older_than"):
            Job.objects.prune(older_than)

        assert Job.objects.count() == 2

    @pytest.mark.parametrize("batch_size", [0, -1, 2.5, None])
    def test_refuses_a_batch_size_that_is_not_a_positive_integer(self, batch_size):
        with pytest.raises(ValueError, match="batch_size"):
            Job.objects.prune(60, batch_size=batch_size)


class TestOperationsTable:
    """What ``operations.py`` says each operation skips is what the QuerySet does."""

    @pytest.mark.parametrize("operation", [CANCEL, RETRY, DELETE, RUN_NOW])
    def test_each_operation_changes_exactly_the_states_it_does_not_skip(self, operation):
        jobs = {state: make_job(state) for state in ALL_STATES}
        before = {row["id"]: row for row in Job.objects.values()}

        assert Job.objects.all().skipped_by(operation) == {state: 1 for state in operation.skipped_states}
        assert Job.objects.all().perform(operation) == len(operation.target_states)

        after = {row["id"]: row for row in Job.objects.values()}
        changed = {state for state, job in jobs.items() if after.get(job.pk) != before[job.pk]}
        assert changed == set(operation.target_states)
        assert all(operation.acts_on(state) for state in changed)

    def test_update_needs_its_changes_and_unknown_operations_are_refused(self):
        with pytest.raises(ValueError, match="apply_update"):
            Job.objects.perform(UPDATE)
        with pytest.raises(ValueError, match="Unknown operation 'cancle'"):
            Job.objects.skipped_by("cancle")

    def test_count_by_state_in_state_order_without_empty_states(self):
        for state in (JobState.DISCARDED, JobState.AVAILABLE, JobState.AVAILABLE):
            make_job(state)

        assert list(Job.objects.all().count_by_state().items()) == [("available", 2), ("discarded", 1)]
        assert Job.objects.none().count_by_state() == {}


@pytest.mark.parametrize("tag", [5, None, ["urgent"], b"urgent"])
def test_tagged_refuses_a_tag_that_is_not_a_string(tag):
    with pytest.raises(TypeError, match="A tag is a string"):
        Job.objects.tagged(tag)


class TestSetBased:
    """Each bulk operation is one statement whatever the number of rows."""

    @pytest.fixture
    def jobs(self):
        return [make_job(state) for state in ALL_STATES for _ in range(30)]

    def test_cancel_is_one_statement(self, jobs, django_assert_num_queries):
        with django_assert_num_queries(1):
            assert Job.objects.all().cancel() == 4 * 30

    def test_retry_is_one_statement(self, jobs, django_assert_num_queries):
        with django_assert_num_queries(1):
            assert Job.objects.all().retry() == 5 * 30

    def test_delete_is_one_statement(self, jobs, django_assert_num_queries):
        with django_assert_num_queries(1):
            assert Job.objects.all().delete()[0] == 6 * 30

    def test_dict_update_is_one_statement(self, jobs, django_assert_num_queries):
        with django_assert_num_queries(1) as captured:
            updated = Job.objects.all().update_many({"priority": 4})
        assert captured.captured_queries[0]["sql"].upper().startswith("UPDATE")
        assert len(updated) == len(jobs)

    def test_callable_update_locks_then_writes_once(self, jobs, django_assert_num_queries):
        with django_assert_num_queries(4) as captured:
            Job.objects.all().update_many(lambda job: {"meta": {"seen": job.pk}})
        sql = [query["sql"].upper() for query in captured.captured_queries]
        statements = [text for text in sql if not text.startswith(("SAVEPOINT", "RELEASE"))]
        assert len(statements) == 2
        assert statements[0].startswith("SELECT")
        assert statements[1].startswith("UPDATE")


@pytest.mark.parametrize("tag", ["a\x00b", "\ud800"], ids=repr)
def test_tagged_refuses_a_tag_no_job_could_carry(tag):
    with pytest.raises(ValidationError) as raised:
        list(Job.objects.tagged(tag))

    assert "tag" in raised.value.message_dict


def test_tagged_with_a_blank_tag_matches_nothing():
    make_job(tags=["a"])

    assert list(Job.objects.tagged("  ")) == []


@pytest.mark.parametrize("states", ["completed", b"completed", 5], ids=repr)
def test_prune_refuses_states_that_are_not_a_list(states):
    make_job(JobState.COMPLETED, completed_at=timezone.now() - timedelta(days=9))

    with pytest.raises(TypeError, match="states must be a list"):
        Job.objects.prune(0, states=states)

    assert Job.objects.count() == 1


#: The operations returning the jobs they changed, all built from the rows of one ``UPDATE … RETURNING``.
RETURNING = {
    "update_many": lambda jobs: jobs.update_many({"priority": 4}),
    "cancel_returning": lambda jobs: jobs.cancel_returning(),
    "retry_returning": lambda jobs: jobs.retry_returning(),
}


@pytest.mark.parametrize("call", RETURNING.values(), ids=list(RETURNING))
def test_returned_jobs_are_the_jobs_as_stored(call):
    """Every field of every returned job is what a query reads back: JSON values empty or not,
    timestamps in the same zone, unique options and key."""
    unique = OncePerArgs.enqueue({"a": 1})
    Job.objects.filter(pk=unique.pk).update(state=JobState.CANCELLED, cancelled_at=timezone.now())
    make_job(JobState.DISCARDED, args={"a": [1, {"b": None}], "é": "ü"}, meta={"k": 1.5}, tags=["x", "y"],
             errors=[{"attempt": 1, "error": "boom"}])
    make_job(JobState.SCHEDULED)
    make_job(JobState.RETRYABLE, meta={"n": {}}, tags=[])

    returned = call(Job.objects.all())

    stored = {job.pk: job for job in Job.objects.all()}
    names = [field.attname for field in Job._meta.concrete_fields]
    assert len(returned) >= 2
    for job in returned:
        assert [repr(getattr(job, name)) for name in names] == [repr(getattr(stored[job.pk], name)) for name in names]
        assert (job._state.adding, job._state.db, job.conflict) == (False, "default", False)


def test_returned_jobs_have_naive_timestamps_without_time_zone_support(settings):
    make_job(JobState.RETRYABLE)
    settings.USE_TZ = False

    [job] = Job.objects.all().update_many({"priority": 2})

    assert job.inserted_at.tzinfo is None and job.attempted_at.tzinfo is None
    assert (job.inserted_at, job.attempted_at) == Job.objects.values_list("inserted_at", "attempted_at").get()


def test_returned_jobs_are_announced_to_post_init_receivers():
    make_job(JobState.AVAILABLE, meta={"k": "v"})
    make_job(JobState.SCHEDULED)
    built = []

    def receiver(sender, instance, **kwargs):
        built.append((instance, instance.meta))

    post_init.connect(receiver, sender=Job)
    try:
        returned = Job.objects.all().update_many({"priority": 2})
    finally:
        post_init.disconnect(receiver, sender=Job)

    by_id = sorted(built, key=lambda pair: pair[0].pk)
    assert [(id(job), job.meta) for job in returned] == [(id(instance), meta) for instance, meta in by_id]


def test_returning_jobs_leaves_the_garbage_collector_as_it_was():
    make_job(JobState.RETRYABLE, attempt=3, max_attempts=5)

    Job.objects.all().update_many({"priority": 1})
    assert gc.isenabled()
    with pytest.raises(ValidationError):
        Job.objects.all().update_many({"max_attempts": 2})
    assert gc.isenabled()
    gc.disable()
    try:
        Job.objects.all().cancel_returning()
        assert not gc.isenabled()
    finally:
        gc.enable()
