"""Large runs: one short transaction per batch, a progress bar on terminals, and clean interruption."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext

from django_oban.models import Job
from django_oban.querysets import JobQuerySet
from django_oban.states import JobState

from ..conftest import make_job
from .conftest import TerminalIO, run

pytestmark = pytest.mark.django_db


def ids_in(state: str) -> list[int]:
    return list(Job.objects.filter(state=state).order_by("pk").values_list("pk", flat=True))


def fail_on_call(monkeypatch: pytest.MonkeyPatch, method: str, call: int, exception: BaseException) -> None:
    """Make the ``call``-th ``JobQuerySet.<method>()`` raise after its statement ran, before commit."""
    original = getattr(JobQuerySet, method)
    calls = []

    def failing(self: JobQuerySet, *args: Any) -> Any:
        result = original(self, *args)
        calls.append(result)
        if len(calls) == call:
            raise exception
        return result

    monkeypatch.setattr(JobQuerySet, method, failing)


def test_runs_one_statement_per_batch():
    jobs = [make_job(queue="mailers") for _ in range(7)]
    make_job(JobState.COMPLETED, queue="mailers")

    with CaptureQueriesContext(connection) as context:
        report = run("oban_cancel", "--queue", "mailers", "--batch-size", "2", "--json").json

    assert report["changed"] == 7
    assert sum(query["sql"].startswith("UPDATE") for query in context.captured_queries) == 4
    assert ids_in(JobState.CANCELLED) == [job.pk for job in jobs]


def test_batches_follow_ids_even_when_the_change_moves_jobs_out_of_the_filter():
    for _ in range(5):
        make_job(queue="mailers")

    report = run("oban_update", "--queue", "mailers", "--set-queue", "default", "--batch-size", "2", "--json").json

    assert report["changed"] == 5
    assert set(Job.objects.values_list("queue", flat=True)) == {"default"}


def test_interruption_keeps_finished_batches_and_leaves_the_rest_untouched(monkeypatch):
    jobs = [make_job(queue="mailers") for _ in range(7)]
    fail_on_call(monkeypatch, "cancel", 3, KeyboardInterrupt())
    stdout = io.StringIO()

    with pytest.raises(CommandError, match="Interrupted after 4 jobs were cancelled: every finished batch") as error:
        run("oban_cancel", "--queue", "mailers", "--batch-size", "2", stdout=stdout)

    assert error.value.returncode == 130
    assert stdout.getvalue() == "Cancelled 4 jobs.\n"
    # Two batches committed; the third, interrupted before its commit, was rolled back.
    assert ids_in(JobState.CANCELLED) == [job.pk for job in jobs[:4]]
    assert ids_in(JobState.AVAILABLE) == [job.pk for job in jobs[4:]]


def test_interrupted_json_report_says_what_was_done(monkeypatch):
    for _ in range(5):
        make_job(JobState.DISCARDED)
    fail_on_call(monkeypatch, "retry", 2, KeyboardInterrupt())
    stdout = io.StringIO()

    with pytest.raises(CommandError, match="Interrupted after 2 jobs were retried"):
        run("oban_retry", "--state", "discarded", "--batch-size", "2", "--json", stdout=stdout)

    report = json.loads(stdout.getvalue())
    assert (report["changed"], report["interrupted"], report["error"]) == (2, True, None)


def test_an_error_mid_run_reports_the_finished_batches(monkeypatch):
    for _ in range(5):
        make_job(JobState.DISCARDED)
    fail_on_call(monkeypatch, "retry", 2, DatabaseError("deadlock detected"))

    message = "Stopped by an error after 2 jobs were retried .*deadlock detected"
    with pytest.raises(CommandError, match=message) as error:
        run("oban_retry", "--state", "discarded", "--batch-size", "2")

    assert error.value.returncode == 1
    assert len(ids_in(JobState.AVAILABLE)) == 2


def test_a_constraint_broken_in_the_first_batch_changes_nothing(monkeypatch):
    for _ in range(3):
        make_job(queue="mailers")
    fail_on_call(monkeypatch, "update_many", 1, ValidationError({"max_attempts": ["max_attempts too low."]}))

    with pytest.raises(CommandError, match="Stopped by an error before any job was changed: max_attempts too low."):
        run("oban_update", "--queue", "mailers", "--set-priority", "5", "--batch-size", "2")

    assert set(Job.objects.values_list("priority", flat=True)) == {0}


def test_progress_bar_on_a_terminal():
    for _ in range(6):
        make_job(queue="mailers")
    terminal = TerminalIO()

    run("oban_cancel", "--queue", "mailers", "--batch-size", "2", stderr=terminal)

    assert "Cancelled:" in terminal.getvalue()
    assert "/6 [" in terminal.getvalue()


@pytest.mark.parametrize("flag", ["--json", "--verbosity=0"])
def test_no_progress_bar_with_json_or_quiet(flag):
    for _ in range(6):
        make_job(queue="mailers")
    terminal = TerminalIO()

    run("oban_cancel", "--queue", "mailers", "--batch-size", "2", flag, stderr=terminal)

    assert terminal.getvalue() == ""


def test_no_progress_bar_when_stderr_is_not_a_terminal():
    for _ in range(6):
        make_job(queue="mailers")

    assert run("oban_cancel", "--queue", "mailers", "--batch-size", "2").stderr == ""
