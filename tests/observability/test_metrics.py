"""Prometheus metrics: counters and histograms after real jobs ran, the gauges, and the flag's errors."""

from __future__ import annotations

import re
import signal
import socket
import urllib.request
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from prometheus_client.parser import text_string_to_metric_families

from django_oban import metrics
from django_oban.metrics import Metrics
from django_oban.models import Job
from django_oban.states import JobState
from tests.runtime.helpers import running_worker, start_worker, wait_until
from tests.runtime.jobs import Cancellable, Fails, Noop, Slow

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    """Every sample served on ``/metrics``, by name and sorted labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_counters_histograms_and_gauges_after_real_jobs(tmp_path: Path) -> None:
    with running_worker({"default": 3, "mailers": 1}) as runner:
        served = Metrics(runner, queue_counts_interval=0)
        port = served.start(0, "127.0.0.1")
        try:
            started = tmp_path / "started"
            running = Cancellable.enqueue({"started": str(started)}, queue="mailers")
            wait_until(started.exists)
            during = scrape(port)
            Noop.enqueue()
            Noop.enqueue()
            Slow.enqueue({"seconds": 0.3})
            Fails.enqueue()
            wait_until(lambda: Job.objects.filter(state__in=[JobState.COMPLETED, JobState.DISCARDED]).count() == 4)
            Job.objects.filter(pk=running.pk).cancel()
            wait_until(lambda: not runner.running)
            after = scrape(port)
        finally:
            served.stop()
    assert during[("oban_queue_running", (("queue", "mailers"),))] == 1
    assert during[("oban_queue_running", (("queue", "default"),))] == 0
    assert during[("oban_queue_jobs", (("queue", "mailers"), ("state", "executing")))] == 1

    def total(worker: type, state: str) -> float:
        key = (("queue", "default"), ("state", state), ("worker", worker.path()))
        return after.get(("oban_jobs_finished_total", key), 0)

    assert (total(Noop, "completed"), total(Slow, "completed")) == (2, 1)
    assert (total(Fails, "retryable"), total(Fails, "discarded")) == (1, 1)  # max_attempts 2
    slow = (("le", "0.25"), ("queue", "default"), ("worker", Slow.path()))
    assert after[("oban_job_duration_seconds_bucket", slow)] == 0
    assert after[("oban_job_duration_seconds_bucket", (("le", "0.5"), *slow[1:]))] == 1
    assert after[("oban_job_duration_seconds_sum", slow[1:])] >= 0.3
    assert after[("oban_job_queue_time_seconds_count", (("queue", "default"),))] == 5  # each attempt
    assert after[("oban_job_queue_time_seconds_count", (("queue", "mailers"),))] == 1
    assert after[("oban_queue_jobs", (("queue", "default"), ("state", "completed")))] == 3
    assert after[("oban_queue_jobs", (("queue", "mailers"), ("state", "cancelled")))] == 1
    assert after[("oban_queue_running", (("queue", "mailers"),))] == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_oban_worker_serves_metrics_on_the_port_it_prints() -> None:
    worker = start_worker("--queues", "default=2", "--metrics-port", "0", "--metrics-addr", "127.0.0.1")
    try:
        assert worker.stdout is not None
        line = worker.stdout.readline()
        match = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", line)
        assert match, line + (worker.stderr.read() if worker.stderr else "")
        Noop.enqueue()
        Noop.enqueue()
        wait_until(lambda: Job.objects.filter(state=JobState.COMPLETED).count() == 2)
        samples = scrape(int(match[1]))
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=30)
    completed = (("queue", "default"), ("state", "completed"), ("worker", Noop.path()))
    assert samples[("oban_jobs_finished_total", completed)] == 2
    assert worker.returncode == 0


def test_bad_metrics_flags_are_command_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        in_use = str(taken.getsockname()[1])
        for port, message in [("abc", "expected an integer"), ("70000", "at most 65535"), (in_use, "Cannot serve")]:
            with pytest.raises(CommandError, match=message):
                call_command("oban_worker", metrics_port=port, metrics_addr="127.0.0.1")
    monkeypatch.setattr(metrics, "AVAILABLE", False)  # as without prometheus-client
    with pytest.raises(CommandError, match=re.escape('pip install "django-oban[metrics]"')):
        call_command("oban_worker", metrics_port="0")
