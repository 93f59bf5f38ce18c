"""The scenarios: each measures one thing on one system and returns its figures.

Side-by-side scenarios take a ``System``; the django-oban-only ones (bulk management,
cancellation latency, worker memory) run on the database Django is connected to.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.systems import LOG_DIR, DjangoOban, System

#: Bulk management: the API call, the same change as one hand-written statement, one job of the loop.
INCOMPLETE = "('available', 'scheduled', 'executing', 'retryable')"
BULK_OPERATIONS: dict[str, dict[str, Any]] = {
    "cancel": {
        "state": "available",
        "api": lambda jobs: jobs.cancel(),
        "sql": "UPDATE oban_jobs SET state = 'cancelled', cancelled_at = now()"
        f" WHERE queue = 'bulk' AND state IN {INCOMPLETE}",
        "each": lambda job: job.cancel(),
    },
    "retry": {
        "state": "discarded",
        "api": lambda jobs: jobs.retry(),
        "sql": "UPDATE oban_jobs SET state = 'available', scheduled_at = now(), completed_at = NULL,"
        " cancelled_at = NULL, discarded_at = NULL, max_attempts = greatest(max_attempts, attempt + 1)"
        " WHERE queue = 'bulk' AND state NOT IN ('available', 'executing')",
        "each": lambda job: job.retry(),
    },
    "delete": {
        "state": "available",
        "api": lambda jobs: jobs.delete(),
        "sql": "DELETE FROM oban_jobs WHERE queue = 'bulk' AND state <> 'executing'",
        "each": lambda job: job.delete(),
    },
    "update_many": {
        "state": "available",
        "api": lambda jobs: jobs.update_many({"priority": 3}),
        "sql": "UPDATE oban_jobs SET priority = 3 WHERE queue = 'bulk' RETURNING *",
        "each": lambda job: job.update({"priority": 3}),
    },
}


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.001) -> Any:
    """Poll ``predicate`` until it returns something truthy (returned); ``TimeoutError`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not done within {timeout} s")
        time.sleep(interval)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def running(processes: list[subprocess.Popen[bytes]], done: Callable[[], bool]) -> Callable[[], bool]:
    """``done``, raising ``RuntimeError`` if a worker exited meanwhile (its log is in ``LOG_DIR``)."""

    def check() -> bool:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"worker {process.args} exited with {process.returncode}; see {LOG_DIR}")
        return done()

    return check


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"no VmRSS for process {pid}")


# -- side by side ---------------------------------------------------------------------------


def enqueue_one(system: System, db: psycopg.Connection[Any], jobs: int) -> float:
    """Jobs/s inserting ``jobs`` jobs one at a time, each committed on its own."""
    system.reset(db)
    started = time.perf_counter()
    for _ in range(jobs):
        system.enqueue_one()
    return jobs / (time.perf_counter() - started)


def enqueue_bulk(system: System, db: psycopg.Connection[Any], jobs: int) -> float:
    """Jobs/s inserting ``jobs`` jobs in one call of the system's bulk API."""
    system.reset(db)
    started = time.perf_counter()
    system.enqueue_bulk(jobs)
    return jobs / (time.perf_counter() - started)


def execution(system: System, db: psycopg.Connection[Any], jobs: int, concurrency: int) -> float:
    """Jobs/s running ``jobs`` queued no-op jobs: first start to last finish, by the system's timestamps."""
    system.reset(db)
    system.fill(jobs)
    db.execute("ANALYZE")
    workers = system.start_workers(concurrency)
    try:
        wait_for(running(workers, lambda: system.remaining(db) == 0), timeout=60 + jobs / 20, interval=0.05)
    finally:
        stop(workers)
    return jobs / system.span(db)


def pickup(
    system: System, db: psycopg.Connection[Any], samples: int, gap: float = 0.02, reset: bool = True
) -> tuple[float, float]:
    """(p50, p95) ms from a job's insert to its start, ``samples`` jobs ``gap`` s apart, worker idle.

    ``reset=False`` keeps the jobs already in the table (the big-table scenario)."""
    if reset:
        system.reset(db)
    workers = system.start_workers(10 if system.supports(10) else 1)
    latencies = []
    try:
        system.enqueue_one()  # the first job waits for the worker to start
        wait_for(running(workers, lambda: system.pickup_ms(db) is not None), timeout=60)
        for _ in range(samples):
            time.sleep(gap)
            system.enqueue_one()
            latencies.append(wait_for(lambda: system.pickup_ms(db), timeout=30))
    finally:
        stop(workers)
    return statistics.median(latencies), percentile(latencies, 0.95)


# -- django-oban only ------------------------------------------------------------------------


def fill_bulk(db: psycopg.Connection[Any], jobs: int, state: str) -> None:
    """``jobs`` jobs of queue ``bulk`` in ``state``: one inserted by the API, copied by SQL."""
    from benchmarks.jobs import Noop
    from django_oban import insert_all

    db.execute("TRUNCATE oban_jobs")
    insert_all([Noop.new(queue="bulk")])
    columns = [f'"{row[0]}"' for row in db.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'oban_jobs' AND column_name <> 'id'"
    )]
    names = ", ".join(columns)
    db.execute(f"INSERT INTO oban_jobs ({names}) SELECT {names} FROM oban_jobs, generate_series(2, %s)", [jobs])
    finished_at = {"discarded": ", discarded_at = now(), attempt = 20"}.get(state, "")
    db.execute(f"UPDATE oban_jobs SET state = %s {finished_at}", [state])
    db.execute("VACUUM ANALYZE oban_jobs")


def bulk_operation(db: psycopg.Connection[Any], name: str, jobs: int, loop_jobs: int) -> dict[str, float]:
    """Jobs/s of the API call, of its hand-written SQL, and of a per-row ORM loop (on ``loop_jobs`` jobs)."""
    from django_oban.models import Job

    operation = BULK_OPERATIONS[name]
    figures = {}
    fill_bulk(db, jobs, operation["state"])
    started = time.perf_counter()
    operation["api"](Job.objects.filter(queue="bulk"))
    figures["api"] = jobs / (time.perf_counter() - started)
    fill_bulk(db, jobs, operation["state"])
    started = time.perf_counter()
    db.execute(operation["sql"]).fetchall() if "RETURNING" in operation["sql"] else db.execute(operation["sql"])
    figures["sql"] = jobs / (time.perf_counter() - started)
    fill_bulk(db, loop_jobs, operation["state"])
    started = time.perf_counter()
    for job in Job.objects.filter(queue="bulk").order_by("pk"):
        operation["each"](job)
    figures["loop"] = loop_jobs / (time.perf_counter() - started)
    return figures


def cancellation(db: psycopg.Connection[Any], url: str, samples: int) -> tuple[float, float]:
    """(p50, p95) ms from the ``cancel_job`` call to ``job.cancelled()`` true in the running job.

    Timed from the call, not its return: the running job often notices before the caller is
    scheduled again, so the return would give negative figures. The call's statement and commit
    are included."""
    from benchmarks.jobs import AwaitCancel
    from django_oban import cancel_job

    system = DjangoOban(url)
    system.reset(db)
    workers = system.start_workers(10)
    latencies = []
    try:
        with tempfile.TemporaryDirectory() as directory:
            for number in range(samples):
                path = Path(directory) / str(number)
                job = AwaitCancel.enqueue({"path": str(path)})
                wait_for(lambda job=job: db.execute(
                    "SELECT 1 FROM oban_jobs WHERE id = %s AND state = 'executing'", [job.pk]
                ).fetchone(), timeout=60)
                time.sleep(0.01)  # the job is in its loop
                cancelled = time.time()
                cancel_job(job)
                seen = float(wait_for(lambda path=path: path.exists() and path.read_text(), timeout=30))
                latencies.append((seen - cancelled) * 1000)
    finally:
        stop(workers)
    return statistics.median(latencies), percentile(latencies, 0.95)


def memory(db: psycopg.Connection[Any], url: str, jobs: int, concurrency: int = 10) -> tuple[float, float]:
    """A worker's resident MB after its first 1,000 jobs (or a tenth) and after ``jobs`` no-op jobs."""
    system = DjangoOban(url)
    system.reset(db)
    system.fill(jobs)
    db.execute("ANALYZE")
    (worker,) = system.start_workers(concurrency)
    try:
        warm = max(1, min(1000, jobs // 10))
        wait_for(lambda: system.remaining(db) <= jobs - warm, timeout=120, interval=0.01)
        start = rss_mb(worker.pid)
        wait_for(lambda: system.remaining(db) == 0, timeout=60 + jobs / 20, interval=0.05)
        end = rss_mb(worker.pid)
    finally:
        stop([worker])
    return start, end


def bare_loop(db: psycopg.Connection[Any], url: str, jobs: int) -> float:
    """Jobs/s of the least a worker can do: claim one job, acknowledge it, on one connection."""
    system = DjangoOban(url)
    system.reset(db)
    system.fill(jobs)
    db.execute("ANALYZE")
    claim = (
        "UPDATE oban_jobs SET state = 'executing', attempt = attempt + 1, attempted_at = now()"
        " WHERE id = (SELECT id FROM oban_jobs WHERE state = 'available' AND queue = 'default'"
        " ORDER BY priority, scheduled_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id"
    )
    with psycopg.connect(url, autocommit=True, application_name=f"bare-loop-{os.getpid()}") as connection:
        while row := connection.execute(claim).fetchone():
            connection.execute("UPDATE oban_jobs SET state = 'completed', completed_at = now() WHERE id = %s", row)
    return jobs / system.span(db)
