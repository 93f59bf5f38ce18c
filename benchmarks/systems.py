"""One small adapter per system: the same no-op job, enqueued, run by the system's own worker, timed.

Every adapter answers the same questions from the database, with the system's own timestamps:
how many jobs are not finished, the span from the first job started to the last one finished,
and how long the newest job waited between its insert and its start (pickup latency).
Workers run as their own command in subprocesses, as users run them.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
LOG_DIR = Path(tempfile.gettempdir()) / "django-oban-bench"


class System:
    """A job system under test; subclasses fill in the SQL and the commands."""

    name = ""
    package = ""
    bulk = True  # has a bulk enqueue API
    max_processes = 0  # >0: the worker runs one job at a time, concurrency N is N processes (up to this)
    tables = ""
    remaining_sql = ""
    span_sql = ""
    pickup_sql = ""

    def __init__(self, url: str) -> None:
        self.url = url

    def version(self) -> str:
        try:
            return version(self.package)
        except PackageNotFoundError:
            return "not installed"

    def available(self) -> bool:
        return self.version() != "not installed"

    def setup(self) -> None:
        """Create the system's tables (Django systems are migrated by the runner)."""

    def reset(self, db: psycopg.Connection[Any]) -> None:
        db.execute(f"TRUNCATE {self.tables} CASCADE")

    def enqueue_one(self) -> None:
        raise NotImplementedError

    def enqueue_bulk(self, count: int) -> None:
        raise NotImplementedError

    def fill(self, count: int) -> None:
        """Insert ``count`` jobs, the fastest way the system has (not timed)."""
        if self.bulk:
            for start in range(0, count, 5000):
                self.enqueue_bulk(min(5000, count - start))
        else:
            for _ in range(count):
                self.enqueue_one()

    def worker_commands(self, concurrency: int) -> list[list[str]]:
        raise NotImplementedError

    def supports(self, concurrency: int) -> bool:
        return not self.max_processes or concurrency <= self.max_processes

    def start_workers(self, concurrency: int) -> list[subprocess.Popen[bytes]]:
        LOG_DIR.mkdir(exist_ok=True)
        env = {
            **os.environ,
            "BENCH_CONCURRENCY": str(concurrency),
            "DATABASE_URL": self.url,
            "DJANGO_DEBUG": "0",
            "OBAN_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
        processes = []
        for number, command in enumerate(self.worker_commands(concurrency)):
            with open(LOG_DIR / f"{self.name}-{number}.log", "ab") as log:
                processes.append(
                    subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
                )
        return processes

    def remaining(self, db: psycopg.Connection[Any]) -> int:
        return int(db.execute(self.remaining_sql).fetchone()[0])  # type: ignore[index]

    def span(self, db: psycopg.Connection[Any]) -> float:
        """Seconds from the first job started to the last one finished."""
        return float(db.execute(f"SELECT extract(epoch FROM last - first) FROM ({self.span_sql}) s").fetchone()[0])  # type: ignore[index]

    def pickup_ms(self, db: psycopg.Connection[Any]) -> float | None:
        """Milliseconds between the newest job's insert and its start; None until it started."""
        row = db.execute(f"SELECT extract(epoch FROM started - inserted) * 1000 FROM ({self.pickup_sql}) s").fetchone()
        return None if row is None or row[0] is None else float(row[0])


def manage(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "manage.py"), *args]


class DjangoOban(System):
    name = "django-oban"
    package = "django-oban"
    tables = "oban_jobs"
    remaining_sql = "SELECT count(*) FROM oban_jobs WHERE state <> 'completed'"
    span_sql = "SELECT min(attempted_at) AS first, max(completed_at) AS last FROM oban_jobs"
    pickup_sql = "SELECT inserted_at AS inserted, attempted_at AS started FROM oban_jobs ORDER BY id DESC LIMIT 1"

    def enqueue_one(self) -> None:
        from benchmarks.jobs import Noop

        Noop.enqueue()

    def enqueue_bulk(self, count: int) -> None:
        from benchmarks.jobs import Noop
        from django_oban import insert_all

        insert_all([Noop.new() for _ in range(count)])

    def worker_commands(self, concurrency: int) -> list[list[str]]:
        return [manage("oban_worker", "--queues", f"default={concurrency}", "--node", "bench")]


class DjangoTasksDB(System):
    name = "django-tasks-db"
    package = "django-tasks-db"
    bulk = False
    max_processes = 10
    tables = "django_tasks_database_dbtaskresult"
    remaining_sql = "SELECT count(*) FROM django_tasks_database_dbtaskresult WHERE status <> 'SUCCESSFUL'"
    span_sql = "SELECT min(started_at) AS first, max(finished_at) AS last FROM django_tasks_database_dbtaskresult"
    pickup_sql = (
        "SELECT enqueued_at AS inserted, started_at AS started FROM django_tasks_database_dbtaskresult"
        " ORDER BY enqueued_at DESC LIMIT 1"
    )

    def enqueue_one(self) -> None:
        from benchmarks.tasks_db_app import noop

        noop.enqueue()

    def worker_commands(self, concurrency: int) -> list[list[str]]:
        return [
            manage("db_worker", "--backend", "db", "--interval", "0.1", "--no-startup-delay", "--no-reload",
                   "--worker-id", f"bench{n}")
            for n in range(concurrency)
        ]


class Procrastinate(System):
    name = "procrastinate"
    package = "procrastinate"
    tables = "procrastinate_jobs"
    remaining_sql = "SELECT count(*) FROM procrastinate_jobs WHERE status <> 'succeeded'"
    span_sql = (
        "SELECT min(at) FILTER (WHERE type = 'started') AS first,"
        " max(at) FILTER (WHERE type = 'succeeded') AS last FROM procrastinate_events"
    )
    pickup_sql = (
        "SELECT min(at) FILTER (WHERE type = 'deferred') AS inserted, min(at) FILTER (WHERE type = 'started')"
        " AS started FROM procrastinate_events WHERE job_id = (SELECT max(id) FROM procrastinate_jobs)"
    )

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.app: Any = None

    def opened(self) -> Any:
        if self.app is None:
            os.environ["DATABASE_URL"] = self.url
            from benchmarks.procrastinate_app import app

            self.app = app.open()
        return self.app

    def setup(self) -> None:
        self.opened().schema_manager.apply_schema()

    def enqueue_one(self) -> None:
        self.opened().tasks["noop"].defer()

    def enqueue_bulk(self, count: int) -> None:
        self.opened().tasks["noop"].batch_defer(*({} for _ in range(count)))

    def worker_commands(self, concurrency: int) -> list[list[str]]:
        return [
            [sys.executable, "-m", "procrastinate", "--app=benchmarks.procrastinate_app.app", "worker",
             f"--concurrency={concurrency}"]
        ]


class PgQueuer(System):
    name = "pgqueuer"
    package = "pgqueuer"
    tables = "pgqueuer, pgqueuer_log"
    remaining_sql = "SELECT count(*) FROM pgqueuer"
    span_sql = (
        "SELECT min(created) FILTER (WHERE status = 'picked') AS first,"
        " max(created) FILTER (WHERE status = 'successful') AS last FROM pgqueuer_log"
    )
    pickup_sql = (
        "SELECT min(created) FILTER (WHERE status = 'queued') AS inserted,"
        " min(created) FILTER (WHERE status = 'picked') AS started FROM pgqueuer_log"
        " WHERE job_id = (SELECT max(job_id) FROM pgqueuer_log)"
    )

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.queries: Any = None

    def opened(self) -> Any:
        if self.queries is None:
            from pgqueuer.db import SyncPsycopgDriver
            from pgqueuer.queries import SyncQueries

            self.queries = SyncQueries(SyncPsycopgDriver(psycopg.connect(self.url, autocommit=True)))
        return self.queries

    def setup(self) -> None:
        from pgqueuer.db import PsycopgDriver
        from pgqueuer.queries import Queries

        async def install() -> None:
            async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as connection:
                await Queries(PsycopgDriver(connection)).install()

        asyncio.run(install())

    def enqueue_one(self) -> None:
        self.opened().enqueue("noop", None)

    def enqueue_bulk(self, count: int) -> None:
        self.opened().enqueue(["noop"] * count, [None] * count, [0] * count)

    def worker_commands(self, concurrency: int) -> list[list[str]]:
        return [
[sys.executable, "-m", "benchmarks.pgqueuer_app"]
        ]


SYSTEMS: dict[str, type[System]] = {
    cls.name: cls for cls in (DjangoOban, DjangoTasksDB, Procrastinate, PgQueuer)
}
