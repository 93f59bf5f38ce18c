"""Prometheus metrics of a worker node, served by ``oban_worker --metrics-port PORT`` on ``/metrics``.

Needs ``prometheus-client`` (``pip install "django-oban[metrics]"``). Without the flag
nothing is imported, served or counted: the per-job counting is a ``job_finished`` receiver,
connected only while the server runs. The families (see docs/observability.md):

``oban_jobs_finished_total{queue,worker,state}``
    Attempts ended here, by the state written (completed, retryable, discarded, cancelled,
    and scheduled or available for a snooze).
``oban_job_duration_seconds{queue,worker}``
    Histogram of the time ``process`` ran.
``oban_job_queue_time_seconds{queue}``
    Histogram of the time from a job being due (``scheduled_at``) to its attempt starting.
``oban_queue_running{queue}``
    Jobs running on this node now.
``oban_queue_jobs{queue,state}``
    Jobs in the table by queue and state, the same on every node: one ``GROUP BY`` query at
    most every ``QUEUE_COUNTS_INTERVAL`` seconds per node, run when scraped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter as Tally
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from .models import Job
from .runtime import Runner
from .runtime.health import close_connection
from .runtime.joblog import queue_time
from .signals import job_finished

try:
    from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import Collector
except ImportError:
    AVAILABLE = False
    Collector = object  # type: ignore[assignment,misc]
else:
    AVAILABLE = True

logger = logging.getLogger("django_oban.worker")

#: Least seconds between two counts of the jobs table for ``oban_queue_jobs``.
QUEUE_COUNTS_INTERVAL = 15.0
#: Histogram buckets, in seconds: from 5 ms to an hour.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)
#: What to install when ``prometheus-client`` is missing.
MISSING = 'Prometheus metrics need prometheus-client: pip install "django-oban[metrics]".'


class QueueCollector(Collector):
    """The gauges, read when scraped: jobs running on the node, and (cached) jobs by queue and state."""

    def __init__(self, runner: Runner, interval: float) -> None:
        self.runner = runner
        self.interval = interval
        self.lock = threading.Lock()
        self.counted_at: float | None = None
        self.counts: dict[str, dict[str, int]] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        running = GaugeMetricFamily("oban_queue_running", "Jobs running on this node.", labels=["queue"])
        with self.runner.running_lock:
            by_queue = Tally(job.queue for job in self.runner.running.values())
        for queue in sorted({*self.runner.queues, *by_queue}):
            running.add_metric([queue], by_queue[queue])
        yield running
        jobs = GaugeMetricFamily("oban_queue_jobs", "Jobs in the table by queue and state.", labels=["queue", "state"])
        for queue, states in self.queue_counts().items():
            for state, count in states.items():
                jobs.add_metric([queue, state], count)
        yield jobs

    def queue_counts(self) -> dict[str, dict[str, int]]:
        """``Job.objects.stats()``, at most ``interval`` seconds old; the last counts if the database fails."""
        with self.lock:
            if self.counted_at is None or time.monotonic() - self.counted_at >= self.interval:
                try:
                    self.counts = Job.objects.stats()
                except Exception:  # a scrape must answer during an outage
                    logger.warning("counting jobs for the metrics failed", exc_info=True)
                finally:
                    close_connection()  # each scrape runs on a thread of its own
                self.counted_at = time.monotonic()
            return self.counts


class Metrics:
    """The metrics of ``runner``'s node and their HTTP server; ``start()`` serves, ``stop()`` ends."""

    def __init__(self, runner: Runner, *, queue_counts_interval: float = QUEUE_COUNTS_INTERVAL) -> None:
        if not AVAILABLE:
            raise ImproperlyConfigured(MISSING)
        self.registry = CollectorRegistry()
        self.finished = Counter(
            "oban_jobs_finished", "Job attempts ended on this node, by outcome state.",
            ["queue", "worker", "state"], registry=self.registry,
        )
        self.duration = Histogram(
            "oban_job_duration_seconds", "Seconds a job's process() ran.",
            ["queue", "worker"], buckets=BUCKETS, registry=self.registry,
        )
        self.queue_time = Histogram(
            "oban_job_queue_time_seconds", "Seconds from a job being due to its attempt starting.",
            ["queue"], buckets=BUCKETS, registry=self.registry,
        )
        self.registry.register(QueueCollector(runner, queue_counts_interval))
        self.server: Any = None
        self.port: int | None = None

    def observe(self, sender: Any, job: Job, state: str, duration: float, **kwargs: Any) -> None:
        """The ``job_finished`` receiver: count the attempt and time it."""
        self.finished.labels(job.queue, job.worker, state).inc()
        self.duration.labels(job.queue, job.worker).observe(duration)
        waited = queue_time(job)
        if waited is not None:
            self.queue_time.labels(job.queue).observe(waited)

    def start(self, port: int, addr: str = "0.0.0.0") -> int:
        """Serve ``/metrics`` on ``addr:port`` (0: any free port) and start counting; the port served.

        ``OSError`` if the port cannot be bound.
        """
        self.server, _ = start_http_server(port, addr, registry=self.registry)
        self.port = int(self.server.server_address[1])
        job_finished.connect(self.observe, weak=False, dispatch_uid=self)
        return self.port

    def stop(self) -> None:
        """Stop counting and serving."""
        job_finished.disconnect(dispatch_uid=self)
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
