"""Each command run as a real process: exit status, stdout and stderr as a shell script sees them."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from django_oban.models import Job
from django_oban.states import JobState

from ..conftest import make_job, snapshot
from .conftest import REPO_ROOT, manage_command

pytestmark = pytest.mark.postgres


def test_cancel(manage):
    job = make_job(JobState.EXECUTING)
    done = make_job(JobState.COMPLETED)

    result = manage("oban_cancel", str(job.pk), str(done.pk), "999999")

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Cancelled 1 job.",
        "Skipped 1 job, already finished: 1 completed.",
        "Not found: 999999.",
    ]
    assert Job.objects.get(pk=job.pk).state == JobState.CANCELLED


def test_retry_json(manage):
    job = make_job(JobState.DISCARDED, queue="mailers")

    result = manage("oban_retry", "--queue", "mailers", "--state", "discarded", "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["changed"] == 1
    assert result.stdout.count("\n") == 1
    assert Job.objects.get(pk=job.pk).state == JobState.AVAILABLE


def test_delete_bad_id_exits_1_and_changes_nothing(manage):
    make_job(JobState.COMPLETED)
    before = snapshot()

    result = manage("oban_delete", "12", "twelve", "--json")

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == "CommandError: Invalid job id 'twelve': expected a positive integer."
    assert snapshot() == before


def test_delete(manage):
    job = make_job(JobState.COMPLETED)

    result = manage("oban_delete", str(job.pk))

    assert (result.returncode, result.stdout) == (0, "Deleted 1 job.\n")
    assert not Job.objects.exists()


def test_update(manage):
    job = make_job(JobState.AVAILABLE, queue="mailers", meta={"keep": 1})

    result = manage(
        "oban_update", "--queue", "mailers", "--set-priority", "0", "--set-meta", '{"k": "v"}', "--add-tag", "x"
    )

    assert (result.returncode, result.stdout) == (0, "Updated 1 job.\n")
    job.refresh_from_db()
    assert (job.priority, job.meta, job.tags) == (0, {"keep": 1, "k": "v"}, ["x"])


def test_update_bad_json_exits_1_and_changes_nothing(manage):
    make_job(JobState.AVAILABLE, queue="mailers")
    before = snapshot()

    result = manage("oban_update", "--queue", "mailers", "--set-priority", "1", "--set-meta", "{oops}")

    assert result.returncode == 1
    assert "Invalid --set-meta '{oops}': not valid JSON" in result.stderr
    assert snapshot() == before


def test_stats(manage):
    make_job(JobState.AVAILABLE, queue="mailers", scheduled_at=timezone.now() - timedelta(hours=2))

    table = manage("oban_stats")
    as_json = manage("oban_stats", "--json")

    assert table.returncode == as_json.returncode == 0
    assert table.stdout.splitlines()[0].startswith("queue")
    assert any(line.startswith("mailers") and line.endswith("2h 0m") for line in table.stdout.splitlines())
    assert json.loads(as_json.stdout)["queues"]["mailers"]["states"]["available"] == 1


def test_prune(manage):
    make_job(JobState.COMPLETED, completed_at=timezone.now() - timedelta(days=30))
    recent = make_job(JobState.COMPLETED)

    result = manage("oban_prune", "--older-than", "7d")

    assert (result.returncode, result.stdout) == (0, "Pruned 1 job.\n")
    assert list(Job.objects.values_list("pk", flat=True)) == [recent.pk]


def test_never_neither(manage):
    make_job(JobState.AVAILABLE)

    result = manage("oban_cancel")

    assert result.returncode == 1
    assert "Give job ids or at least one filter" in result.stderr
    assert Job.objects.get().state == JobState.AVAILABLE


def test_ctrl_c_keeps_finished_batches_and_says_so(manage_env):
    jobs = [make_job(JobState.COMPLETED) for _ in range(6)]
    # Holding a lock on a job of the third batch stops the command there, mid-statement.
    with transaction.atomic():
        Job.objects.select_for_update().get(pk=jobs[4].pk)
        process = subprocess.Popen(
            manage_command("oban_delete", "--state", "completed", "--batch-size", "2"),
            cwd=REPO_ROOT, env=manage_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            blocked = wait_until_blocked_by_this_session(process)
            assert blocked.startswith("DELETE"), blocked  # the third batch, not an earlier statement
            process.send_signal(signal.SIGINT)
            stdout, stderr = finish(process)
        finally:
            if process.poll() is None:  # only if the test failed before the command exited
                process.kill()
                process.communicate()

    assert (process.returncode, stdout) == (130, "Deleted 4 jobs.\n"), stderr
    assert "Interrupted after 4 jobs were deleted: every finished batch is committed" in stderr
    assert list(Job.objects.order_by("pk").values_list("pk", flat=True)) == [jobs[4].pk, jobs[5].pk]


# Deadlines are generous: on a busy machine starting Django in a subprocess can take many
# seconds. Each wait polls for a condition and ends as soon as it holds.
STARTUP_DEADLINE = 180.0
EXIT_DEADLINE = 120.0


def wait_until_blocked_by_this_session(process: subprocess.Popen[str]) -> str:
    """Wait until a backend waits for a lock that this test's session holds; return its query.

    ``pg_blocking_pids()`` names the sessions a backend waits for, so only a statement
    stuck behind this test's row lock counts: the command's third batch. Fails at once if
    the command exits first, and after ``STARTUP_DEADLINE`` seconds otherwise.
    """
    deadline = time.monotonic() + STARTUP_DEADLINE
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                stdout, stderr = process.communicate()
                raise AssertionError(f"the command exited ({process.returncode}) before reaching the lock: {stdout}{stderr}")
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # activity is cached per transaction
            cursor.execute(
                "SELECT query FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid() AND pg_backend_pid() = ANY(pg_blocking_pids(pid))"
            )
            row = cursor.fetchone()
            if row is not None:
                return str(row[0])
            time.sleep(0.05)
    raise AssertionError(f"the command did not reach the locked job within {STARTUP_DEADLINE:.0f}s")


def finish(process: subprocess.Popen[str]) -> tuple[str, str]:
    """The output of ``process`` once it exits; fails (and kills it) after ``EXIT_DEADLINE`` seconds."""
    try:
        return process.communicate(timeout=EXIT_DEADLINE)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        raise AssertionError(f"the command did not exit within {EXIT_DEADLINE:.0f}s of Ctrl-C: {stdout}{stderr}") from None


COMMANDS = ["oban_cancel", "oban_retry", "oban_delete", "oban_update", "oban_stats", "oban_prune"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_describes_every_option(manage, command):
    result = manage("help", command)

    assert result.returncode == 0
    assert "--json" in result.stdout
    assert "==SUPPRESS==" not in result.stdout
