#!/usr/bin/env python
"""Measure one worker process: no-op jobs/s at a concurrency, and idle pickup latency.

Usage: DATABASE_URL=postgres://… python bench/worker_throughput.py [--jobs 20000] [--concurrency 10]

Inserts ``--jobs`` no-op jobs, starts ``manage.py oban_worker`` in a subprocess, and times
from its first claim to the last completion. Then, with the worker idle, inserts single
jobs one at a time and measures insert-commit to ``attempted_at`` (pickup latency).
Needs a migrated database; the ``oban_jobs`` table is emptied first.
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


def wait_for(predicate, timeout: float, interval: float = 0.005) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(interval)


def throughput(jobs: int, concurrency: int) -> float:
    for start in range(0, jobs, 5000):
        insert_all([Noop.new() for _ in range(min(5000, jobs - start))])
    worker = start_worker(concurrency)
    try:
        wait_for(lambda: not Job.objects.exclude(state="completed").exists(), timeout=600, interval=0.1)
    finally:
        stop(worker)
    span = Job.objects.aggregate(first=Min("attempted_at"), last=Max("completed_at"))
    return jobs / (span["last"] - span["first"]).total_seconds()


def pickup_latencies(samples: int, concurrency: int) -> list[float]:
    worker = start_worker(concurrency)
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
    return latencies


def start_worker(concurrency: int) -> subprocess.Popen:
    env = {**os.environ, "OBAN_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "manage.py", "oban_worker", "--queues", f"default={concurrency}", "--node", "bench"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)


def stop(worker: subprocess.Popen) -> None:
    worker.send_signal(signal.SIGTERM)
    worker.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--samples", type=int, default=100)
    options = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database.")
    Job.objects.all()._raw_delete("default")
    rate = throughput(options.jobs, options.concurrency)
    print(f"throughput: {rate:,.0f} jobs/s ({options.jobs} no-op jobs, concurrency {options.concurrency})")
    Job.objects.all()._raw_delete("default")
    latencies = sorted(pickup_latencies(options.samples, options.concurrency))
    p50 = statistics.median(latencies)
    p95 = latencies[int(len(latencies) * 0.95) - 1]
    print(f"idle pickup latency: p50 {p50:.2f} ms, p95 {p95:.2f} ms ({len(latencies)} samples)")


if __name__ == "__main__":
    main()
