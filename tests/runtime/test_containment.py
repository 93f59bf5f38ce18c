"""Failures are contained: whatever a job, its worker module, ``backoff``, ``timeout`` or a signal
receiver does, that job ends in a recorded state with the error kept, and the queue goes on."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from django_oban.models import Job
from django_oban.runtime.storable import MAX_ERROR_LENGTH, MAX_ERRORS, MAX_TRACEBACK_LENGTH
from django_oban.signals import job_finished, job_started
from django_oban.states import JobState
from django_oban.testing import drain_queue
from django_oban.workers import MAX_DELAY

from .helpers import running_worker, wait_until
from .jobs import (
    BacksOffBadly,
    FailsInInit,
    FailsLoudly,
    Noop,
    RaisesBaseException,
    RaisesUnprintable,
    RaisesUnstorable,
    RecordsUnstorable,
    SnoozesBadly,
    TimesOutBadly,
    TimesOutStubbornly,
)

DISCARDED, RETRYABLE, COMPLETED = JobState.DISCARDED, JobState.RETRYABLE, JobState.COMPLETED
UNSTORABLE = "UnstorableRecord: the Record value cannot be stored as JSON: "
DEFAULT_BACKOFF = "; the default backoff was used)"

#: (worker path, args, final state, text the stored error contains)
MISBEHAVIOURS = [
    (RecordsUnstorable, {"kind": "set"}, DISCARDED, UNSTORABLE + "TypeError: Object of type set is not JSON"),
    (RecordsUnstorable, {"kind": "object"}, DISCARDED, UNSTORABLE + "TypeError: Object of type object is not"),
    (RecordsUnstorable, {"kind": "nan"}, DISCARDED, UNSTORABLE + "ValueError: Out of range float values"),
    (RecordsUnstorable, {"kind": "infinity"}, DISCARDED, UNSTORABLE + "ValueError: Out of range float values"),
    (RaisesUnstorable, {}, DISCARDED, "ValueError: bad\ufffdbyte and \ufffd surrogate"),
    (RaisesBaseException, {"kind": "exit"}, DISCARDED, "SystemExit: 3"),
    (RaisesBaseException, {"kind": "interrupt"}, DISCARDED, "KeyboardInterrupt"),
    (RaisesBaseException, {"kind": "custom"}, DISCARDED, "Custom: not an Exception"),
    (RaisesUnprintable, {}, DISCARDED, "UnprintableError: <the exception's message could not be read>"),
    (SnoozesBadly, {"kind": "huge"}, DISCARDED, "ValueError: Snooze seconds must be finite and at most"),
    (SnoozesBadly, {"kind": "nan"}, DISCARDED, "ValueError: Snooze seconds must be finite and at most"),
    (SnoozesBadly, {"kind": "infinity"}, DISCARDED, "ValueError: Snooze seconds must be finite and at most"),
    (SnoozesBadly, {"kind": "string"}, DISCARDED, "TypeError: Snooze seconds must be a number, not str: '60'"),
    (SnoozesBadly, {"kind": "bool"}, DISCARDED, "TypeError: Snooze seconds must be a number, not bool"),
    (BacksOffBadly, {"kind": "raise"}, RETRYABLE, "(backoff() raised RuntimeError: backoff exploded" + DEFAULT_BACKOFF),
    (BacksOffBadly, {"kind": "exit"}, RETRYABLE, "(backoff() raised SystemExit: backoff exits" + DEFAULT_BACKOFF),
    (BacksOffBadly, {"kind": "string"}, RETRYABLE, "(backoff() returned 'soon'" + DEFAULT_BACKOFF),
    (BacksOffBadly, {"kind": "nan"}, RETRYABLE, "(backoff() returned nan" + DEFAULT_BACKOFF),
    (BacksOffBadly, {"kind": "none"}, RETRYABLE, "(backoff() returned None" + DEFAULT_BACKOFF),
    (BacksOffBadly, {"kind": "huge"}, RETRYABLE, "ValueError: the job failed"),
    (TimesOutBadly, {"kind": "raise"}, DISCARDED, "RuntimeError: timeout exploded"),
    (TimesOutBadly, {"kind": "string"}, DISCARDED, "TypeError: timeout() returned '10': expected a number"),
    (TimesOutBadly, {"kind": "list"}, DISCARDED, "TypeError: timeout() returned [1]"),
    (TimesOutBadly, {"kind": "nan"}, DISCARDED, "ValueError: timeout() returned nan: expected a positive"),
    (TimesOutBadly, {"kind": "negative"}, DISCARDED, "ValueError: timeout() returned -1"),
    (TimesOutBadly, {"kind": "zero"}, DISCARDED, "ValueError: timeout() returned 0"),
    (FailsInInit, {}, DISCARDED, "RuntimeError: cannot even start"),
    (
        "tests.runtime.broken_module.Anything",
        {},
        DISCARDED,
        "WorkerNotFound: cannot import worker 'tests.runtime.broken_module.Anything': "
        "ZeroDivisionError: this module cannot be imported",
    ),
    (
        "tests.runtime.exiting_module.Anything",
        {},
        DISCARDED,
        "WorkerNotFound: cannot import worker 'tests.runtime.exiting_module.Anything': "
        "SystemExit: this module exits on import",
    ),
]


def new_job(worker, args, priority: int = 0) -> Job:
    if isinstance(worker, str):
        return Job(worker=worker, args=args, max_attempts=1, priority=priority)
    return worker.new(args, priority=priority)


def enqueue(worker, args, priority: int = 0) -> Job:
    job = new_job(worker, args, priority)
    job.save()
    return job


def assert_recorded(job: Job, states: str | tuple[str, ...], error: str) -> None:
    job.refresh_from_db()
    assert job.state in ((states,) if isinstance(states, str) else states), (job.state, job.errors)
    assert error in job.errors[-1]["error"], job.errors


@pytest.fixture
def raising_receivers():
    """``job_started``/``job_finished`` receivers that raise for jobs whose args ask for it."""

    def on_started(sender, job, **kwargs):
        if job.args.get("receiver") == "started":
            raise RuntimeError("job_started receiver failed")

    def on_finished(sender, job, **kwargs):
        if job.args.get("receiver") == "finished":
            raise SystemExit("job_finished receiver exits")

    job_started.connect(on_started)
    job_finished.connect(on_finished)
    yield
    job_started.disconnect(on_started)
    job_finished.disconnect(on_finished)


# -- each misbehaviour, run inline (PostgreSQL and SQLite) --------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("worker", "args", "state", "error"), MISBEHAVIOURS, ids=lambda value: getattr(value, "__name__", str(value))[:40])
def test_a_misbehaving_job_ends_recorded_with_its_error_and_the_next_job_runs(worker, args, state, error) -> None:
    bad = enqueue(worker, args)
    good = Noop.enqueue(priority=1)
    drain_queue()
    assert_recorded(bad, state, error)
    assert "Traceback" in bad.errors[-1].get("traceback", "") or "backoff" in error
    good.refresh_from_db()
    assert good.state == COMPLETED


@pytest.mark.django_db
def test_record_strings_keep_their_text_with_unstorable_characters_replaced() -> None:
    nul = RecordsUnstorable.enqueue({"kind": "nul"})
    surrogate = RecordsUnstorable.enqueue({"kind": "surrogate"})
    drain_queue()
    nul.refresh_from_db()
    surrogate.refresh_from_db()
    assert (nul.state, nul.meta) == (COMPLETED, {"recorded": {"text\ufffdkey": "a\ufffdb"}})
    assert (surrogate.state, surrogate.meta) == (COMPLETED, {"recorded": ["\ufffd lone"]})


@pytest.mark.django_db
def test_a_custom_backoff_is_held_between_zero_and_max_delay() -> None:
    huge = BacksOffBadly.enqueue({"kind": "huge"})
    negative = BacksOffBadly.enqueue({"kind": "negative"})
    before = timezone.now()
    drain_queue()
    after = timezone.now()
    huge.refresh_from_db()
    negative.refresh_from_db()
    assert before + timedelta(seconds=MAX_DELAY) <= huge.scheduled_at <= after + timedelta(seconds=MAX_DELAY)
    assert before <= negative.scheduled_at <= after
    assert "backoff" not in huge.errors[-1]["error"] and "backoff" not in negative.errors[-1]["error"]


@pytest.mark.django_db
def test_a_raising_job_started_receiver_fails_the_attempt_and_a_job_finished_one_is_logged(
    raising_receivers, caplog
) -> None:
    started = Noop.enqueue({"receiver": "started"})
    finished = Noop.enqueue({"receiver": "finished"})
    with caplog.at_level(logging.ERROR, logger="django_oban.worker"):
        drain_queue()
    assert_recorded(started, RETRYABLE, "RuntimeError: job_started receiver failed")
    finished.refresh_from_db()
    assert finished.state == COMPLETED
    assert any("job_finished receiver" in record.getMessage() for record in caplog.records)


# -- bounded errors -----------------------------------------------------------------------


@pytest.mark.django_db
def test_errors_keep_the_last_entries_trimmed_and_storable() -> None:
    job = FailsLoudly.enqueue({"length": MAX_TRACEBACK_LENGTH + MAX_ERROR_LENGTH})
    for _ in range(MAX_ERRORS + 5):
        drain_queue(with_scheduled=True)
    job.refresh_from_db()
    assert job.attempt == MAX_ERRORS + 5
    assert [error["attempt"] for error in job.errors] == list(range(6, MAX_ERRORS + 6))
    for error in job.errors:
        assert len(error["error"]) == MAX_ERROR_LENGTH
        assert error["error"].startswith("ValueError: xxx") and error["error"].endswith("…")
        assert len(error["traceback"]) == MAX_TRACEBACK_LENGTH
        assert error["traceback"].endswith("x\ufffd\n")  # the end, where the error is, is kept


# -- on a live node: a misbehaving job never stops the queue (PostgreSQL) ----------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_at_concurrency_1_every_misbehaving_job_is_recorded_and_the_queue_goes_on(raising_receivers) -> None:
    cases = [*MISBEHAVIOURS, (Noop, {"receiver": "started"}, RETRYABLE, "RuntimeError: job_started receiver")]
    bad = [enqueue(worker, args) for worker, args, _, _ in cases]
    finished_receiver_fails = Noop.enqueue({"receiver": "finished"})
    good = Noop.enqueue(priority=1)
    with running_worker({"default": 1}, poll_interval=0.2):
        wait_until(lambda: Job.objects.get(pk=good.pk).state == COMPLETED, timeout=60)
    for job, (_, _, state, error) in zip(bad, cases):
        # A retryable job's default backoff is 15 s or more; on a slow run the leader may
        # already have made it available again.
        assert_recorded(job, (state, JobState.AVAILABLE) if state == RETRYABLE else (state,), error)
    assert Job.objects.get(pk=finished_receiver_fails.pk).state == COMPLETED
    assert not Job.objects.filter(state=JobState.EXECUTING).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_timed_out_job_holds_its_slot_until_it_has_really_ended(tmp_path) -> None:
    interrupted, ended = tmp_path / "interrupted", tmp_path / "ended"
    stubborn = TimesOutStubbornly.enqueue(
        {"seconds": 1.5, "timeout": 0.1, "interrupted": str(interrupted), "ended": str(ended)}, max_attempts=1
    )
    following = Noop.enqueue(priority=1)
    ended_when_the_next_job_started: list[bool] = []

    def on_started(sender, job, **kwargs):
        if job.pk == following.pk:
            ended_when_the_next_job_started.append(ended.exists())

    job_started.connect(on_started)
    try:
        with running_worker({"default": 1}):
            wait_until(lambda: Job.objects.get(pk=following.pk).state == COMPLETED, timeout=30)
    finally:
        job_started.disconnect(on_started)
    assert ended_when_the_next_job_started == [True]
    assert interrupted.exists()
    assert_recorded(stubborn, DISCARDED, "JobTimeout: timed out after 0.1s")


@pytest.mark.postgres
@pytest.mark.django_db
def test_an_outcome_the_database_refuses_is_written_as_a_failure_without_blocking_the_others() -> None:
    from django_oban.runtime import database
    from django_oban.runtime.execution import Outcome, execute

    Noop.enqueue()
    RecordsUnstorable.enqueue({"kind": "nul"})
    poisoned, fine = database.claim("default", 2, "n1")
    # An outcome that skipped the runtime's own cleaning: PostgreSQL refuses NUL in jsonb.
    refused = Outcome(poisoned, COMPLETED, 0.0, changes={"completed_at": timezone.now()}, meta={"recorded": "\x00"})
    database.acknowledge([refused, execute(fine)])
    poisoned.refresh_from_db()
    fine.refresh_from_db()
    assert poisoned.state == RETRYABLE
    assert "DataError" in poisoned.errors[-1]["error"]
    assert fine.state == COMPLETED
    assert fine.meta == {"recorded": {"text\ufffdkey": "a\ufffdb"}}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_outcome_is_kept_for_retrying_when_the_database_refuses_every_write() -> None:
    from django.db import DatabaseError, connection

    from django_oban.runtime import database
    from django_oban.runtime.execution import execute, write_outcome

    RecordsUnstorable.enqueue({"kind": "nul"})
    [job] = database.claim("default", 1, "n1")
    outcome = execute(job)
    with connection.cursor() as cursor:
        cursor.execute("SET default_transaction_read_only = on")  # as on a standby after a failover
    try:
        with pytest.raises(DatabaseError):
            write_outcome(outcome)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET default_transaction_read_only")
    assert Job.objects.get(pk=job.pk).state == JobState.EXECUTING  # neither dropped nor failed
    assert write_outcome(outcome)
    assert Job.objects.get(pk=job.pk).state == COMPLETED
