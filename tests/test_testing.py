"""``django_oban.testing``: the helpers users call in their own tests."""

from __future__ import annotations

import pytest

from django_oban.states import JobState
from django_oban.testing import assert_enqueued, drain_queue, perform_job, refute_enqueued
from django_oban.workers import Record
from tests.runtime.jobs import Fails, Noop, Returns, Slow
from tests.workers import SendEmail

pytestmark = pytest.mark.django_db


def test_perform_job_returns_what_process_returned_without_the_database() -> None:
    assert perform_job(Returns, {"outcome": "record"}) == Record({"answer": 42})


def test_perform_job_lets_errors_propagate_and_applies_the_timeout() -> None:
    with pytest.raises(ValueError, match="boom on attempt 1"):
        perform_job(Fails)
    with pytest.raises(Exception, match="timed out"):
        perform_job(Slow, {"seconds": 2, "timeout": 0.05})


def test_assert_and_refute_enqueued_match_worker_queue_and_an_args_subset() -> None:
    SendEmail.enqueue({"to": "a@example.com", "lang": "en"})
    [job] = assert_enqueued(SendEmail, args={"to": "a@example.com"})
    assert_enqueued(queue="mailers")
    assert_enqueued("tests.workers.SendEmail")
    refute_enqueued(SendEmail, args={"to": "b@example.com"})
    refute_enqueued(Noop)
    with pytest.raises(AssertionError, match="found none"):
        assert_enqueued(Noop)
    with pytest.raises(AssertionError, match="Expected no job"):
        refute_enqueued(SendEmail)
    drain_queue("mailers")
    refute_enqueued(SendEmail)  # finished jobs no longer count
    job.refresh_from_db()
    assert job.state == JobState.COMPLETED


def test_drain_queue_with_scheduled_runs_future_jobs() -> None:
    Noop.enqueue(schedule_in=3600)
    assert drain_queue() == {}
    assert drain_queue(with_scheduled=True) == {"completed": 1}
