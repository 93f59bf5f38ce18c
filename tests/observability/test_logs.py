"""One structured log line per job outcome, with stable keys (``django_oban.runtime.joblog.KEYS``)."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from django_oban.models import Job
from django_oban.runtime.joblog import KEYS
from django_oban.testing import drain_queue
from tests.runtime.jobs import Fails, Noop

pytestmark = pytest.mark.django_db


def outcome_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if hasattr(record, "job_id")]


def test_each_outcome_is_one_info_line_with_every_key(caplog: pytest.LogCaptureFixture) -> None:
    due = timezone.now() - timedelta(seconds=30)
    done = Noop.enqueue()
    failed = Fails.enqueue(queue="default")
    Job.objects.filter(pk=done.pk).update(scheduled_at=due)
    with caplog.at_level(logging.INFO, logger="django_oban.worker"):
        drain_queue("default")
    records = {record.job_id: record for record in outcome_records(caplog)}
    assert set(records) == {done.pk, failed.pk}
    for record in records.values():
        assert record.levelno == logging.INFO and record.name == "django_oban.worker"
        assert all(hasattr(record, key) for key in KEYS)
    ok, bad = records[done.pk], records[failed.pk]
    assert (ok.worker, ok.queue, ok.attempt, ok.max_attempts, ok.state, ok.error) == (
        Noop.path(), "default", 1, 20, "completed", None
    )
    assert 30 <= ok.queue_time < 60 and 0 <= ok.duration < 5
    assert (bad.state, bad.attempt, bad.error) == ("retryable", 1, "ValueError: boom on attempt 1")
    assert ok.getMessage().startswith(f"job {done.pk} completed: {Noop.path()} on default, attempt 1/20, ran ")
    assert "waited 3" in ok.getMessage()
    assert bad.getMessage().endswith(": ValueError: boom on attempt 1")


def test_nothing_is_logged_per_job_above_info(caplog: pytest.LogCaptureFixture) -> None:
    Noop.enqueue()
    with caplog.at_level(logging.WARNING, logger="django_oban.worker"):
        assert drain_queue("default") == {"completed": 1}
    assert outcome_records(caplog) == []
