"""Large runs: one short transaction per batch, a progress bar on terminals, and clean interruption."""

from __future__ import annotations

import io
import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from django_oban.management import batches
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
    fail_on_call(monkeypatch, "apply_update_counts", 1, ValidationError({"max_attempts": ["max_attempts too low."]}))

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


def ctrl_c_after_commit(monkeypatch: pytest.MonkeyPatch, commit: int) -> None:
    """Send this process a real SIGINT right after the ``commit``-th batch transaction commits."""
    real_atomic = transaction.atomic
    commits = []

    @contextmanager
    def atomic(*args: Any, **kwargs: Any) -> Iterator[None]:
        with real_atomic(*args, **kwargs):
            yield
        commits.append(1)
        if len(commits) == commit:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(batches.transaction, "atomic", atomic)


def run_catching_ctrl_c(*args: Any, **options: Any) -> None:
    """Run a command; a ``KeyboardInterrupt`` escaping it fails the test (not the whole session)."""
    try:
        run(*args, **options)
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped the command")


@pytest.mark.skipif(os.name != "posix", reason="needs POSIX signals")
def test_ctrl_c_while_a_batch_commits_waits_until_it_is_counted(monkeypatch):
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    jobs = [make_job(queue="mailers") for _ in range(7)]
    ctrl_c_after_commit(monkeypatch, commit=2)
    stdout = io.StringIO()

    with pytest.raises(CommandError, match="Interrupted after 4 jobs were cancelled") as error:
        run_catching_ctrl_c("oban_cancel", "--queue", "mailers", "--batch-size", "2", stdout=stdout)

    assert error.value.returncode == 130
    assert stdout.getvalue() == "Cancelled 4 jobs.\n"
    assert ids_in(JobState.CANCELLED) == [job.pk for job in jobs[:4]]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the command's handler is gone


@pytest.mark.skipif(os.name != "posix", reason="needs POSIX signals")
def test_ctrl_c_after_the_last_batch_committed_is_not_an_interruption(monkeypatch):
    for _ in range(5):
        make_job(queue="mailers")
    ctrl_c_after_commit(monkeypatch, commit=3)  # batches of 2, 2 and the last 1

    output = run("oban_cancel", "--queue", "mailers", "--batch-size", "2", "--json")

    assert (output.json["changed"], output.json["interrupted"]) == (5, False)
    assert len(ids_in(JobState.CANCELLED)) == 5


@pytest.mark.parametrize(
    ("exception", "message", "status"),
    [
        (KeyboardInterrupt(), "Interrupted before any job was changed.", 130),
        (DatabaseError("server closed the connection"), "Stopped by a database error before any job was changed: "
         "server closed the connection", 1),
    ],
)
def test_ctrl_c_or_a_database_error_before_the_first_write(monkeypatch, exception, message, status):
    for _ in range(3):
        make_job(queue="mailers")

    def counting_fails(queryset: JobQuerySet) -> dict[str, int]:
        raise exception

    monkeypatch.setattr(JobQuerySet, "count_by_state", counting_fails)
    stdout = io.StringIO()

    with pytest.raises(CommandError, match=message) as error:
        run("oban_cancel", "--queue", "mailers", "--json", stdout=stdout)

    assert error.value.returncode == status
    assert stdout.getvalue() == ""
    assert ids_in(JobState.AVAILABLE) == list(Job.objects.order_by("pk").values_list("pk", flat=True))
