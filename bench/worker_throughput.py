#!/usr/bin/env python
"""Measure one worker process: no-op jobs/s at a concurrency, and idle pickup latency.

Usage: DATABASE_URL=postgres://… python bench/worker_throughput.py [--jobs 20000] [--concurrency 10] [--runs 3]

Each run inserts ``--jobs`` no-op jobs, starts ``manage.py oban_worker`` in a subprocess and
times from its first claim to the last completion (``min(attempted_at)`` to
``max(completed_at)``, so process start-up is not counted). Then, with the worker idle, it
inserts single jobs one at a time and measures insert-commit to ``attempted_at`` (pickup
latency). With ``--runs N`` this is repeated and the median printed too.

The worker runs as in production: ``DJANGO_DEBUG=0`` (``--django-debug`` for 1) and the ``django_oban`` logger at
``--log-level`` (default WARNING, i.e. no per-job log line; use INFO to include it, written
to /dev/null). When the PostgreSQL server runs on this machine, the CPU time of the worker
process and of its database sessions is reported per 1,000 jobs: a figure that depends much
less on the machine's load than jobs/s does.

Needs a migrated database; the ``oban_jobs`` table is truncated before each measurement.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.db.models import Max, Min  # noqa: E402

from django_oban import insert_all  # noqa: E402
from django_oban.models import Job  # noqa: E402
from testproject.demo.workers import Noop  # noqa: E402

APPLICATION_NAME = "oban-bench-worker"
DJANGO_DEBUG = "0"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def wait_for(predicate, timeout: float, interval: float = 0.005) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(interval)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` (all its threads), if readable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def backend_pids() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", [APPLICATION_NAME])
        return [row[0] for row in cursor.fetchall()]


def reset_table() -> None:
    """Empty ``oban_jobs`` to a fresh table and indexes, so runs do not inherit bloat."""
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE oban_jobs")


def throughput(jobs: int, concurrency: int, log_level: str) -> dict[str, float | None]:
    reset_table()
    for start in range(0, jobs, 5000):
        insert_all([Noop.new() for _ in range(min(5000, jobs - start))])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE oban_jobs")
    worker = start_worker(concurrency, log_level)
    try:
        # incomplete() is an index lookup; exclude(state=completed) scanned the finished rows
        # on every poll, CPU taken from the worker being measured.
        wait_for(lambda: not Job.objects.incomplete().exists(), timeout=600, interval=0.1)
        python_cpu = cpu_seconds(worker.pid)
        backend_cpu = [cpu_seconds(pid) for pid in backend_pids()]
    finally:
        stop(worker)
    span = Job.objects.aggregate(first=Min("attempted_at"), last=Max("completed_at"))
    per_1000 = 1000 / jobs
    return {
        "rate": jobs / (span["last"] - span["first"]).total_seconds(),
        "python_cpu": None if python_cpu is None else python_cpu * per_1000,
        "pg_cpu": None if not backend_cpu or None in backend_cpu else sum(backend_cpu) * per_1000,
    }


def pickup_latencies(samples: int, concurrency: int, log_level: str) -> list[float]:
    reset_table()
    worker = start_worker(concurrency, log_level)
    latencies = []
    try:
        time.sleep(2)  # let it start and go idle
        for _ in range(samples):
            job = Noop.enqueue()  # autocommit: committed on return
            wait_for(lambda: Job.objects.filter(pk=job.pk, state="completed").exists(), timeout=10, interval=0.001)
            job.refresh_from_db()
            latencies.append((job.attempted_at - job.inserted_at).total_seconds() * 1000)
            time.sleep(0.05)
    finally:
        stop(worker)
    return sorted(latencies)


def start_worker(concurrency: int, log_level: str) -> subprocess.Popen:
    env = {**os.environ, "OBAN_LOG_LEVEL": log_level, "DJANGO_DEBUG": DJANGO_DEBUG, "PGAPPNAME": APPLICATION_NAME}
    command = [sys.executable, "manage.py", "oban_worker", "--queues", f"default={concurrency}", "--node", "bench"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(worker: subprocess.Popen) -> None:
    worker.send_signal(signal.SIGTERM)
    worker.wait(60)


def load() -> str:
    try:
        return "load " + " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "load ?"


def fmt_cpu(value: float | None) -> str:
    return "?" if value is None else f"{value * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--samples", type=int, default=100, help="pickup latency samples per run")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--log-level", default="WARNING", help="level of the django_oban logger in the worker")
    parser.add_argument("--django-debug", action="store_true", help="run the worker with DEBUG = True")
    options = parser.parse_args()
    global DJANGO_DEBUG
    DJANGO_DEBUG = "1" if options.django_debug else "0"
    if connection.vendor != "postgresql":
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database.")
    rates, p50s, p95s = [], [], []
    for run in range(1, options.runs + 1):
        before = load()
        result = throughput(options.jobs, options.concurrency, options.log_level)
        rates.append(result["rate"])
        print(
            f"run {run}: throughput {result['rate']:,.0f} jobs/s ({options.jobs} no-op jobs, concurrency"
            f" {options.concurrency}, logger {options.log_level}); CPU per 1,000 jobs: worker"
            f" {fmt_cpu(result['python_cpu'])}, its PostgreSQL sessions {fmt_cpu(result['pg_cpu'])}; {before}",
            flush=True,
        )
        if options.samples:
            latencies = pickup_latencies(options.samples, options.concurrency, options.log_level)
            p50s.append(statistics.median(latencies))
            p95s.append(latencies[max(0, int(len(latencies) * 0.95) - 1)])
            print(f"run {run}: idle pickup latency p50 {p50s[-1]:.2f} ms, p95 {p95s[-1]:.2f} ms", flush=True)
    if options.runs > 1:
        summary = f"median of {options.runs} runs: throughput {statistics.median(rates):,.0f} jobs/s"
        if p50s:
            summary += f", pickup p50 {statistics.median(p50s):.2f} ms, p95 {statistics.median(p95s):.2f} ms"
        print(summary)


if __name__ == "__main__":
    main()
