"""Worker processes of the chaos suite, and the faults injected into them and the database."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from django.db import connection

from tests.pgcluster import pg_ctl
from tests.runtime.helpers import REPO_ROOT, wait_until, worker_env

from .jobs import LOG_DIR_ENV


@dataclass
class Fault:
    """One injected fault: what, to which process (``None``: every process), from when to when."""

    kind: str
    started: float
    ended: float
    pid: int | None = None
    node: str | None = None

    def hits(self, pid: int, since: float, until: float) -> bool:
        """Whether this fault struck process ``pid`` between ``since`` and ``until``."""
        return (self.pid is None or self.pid == pid) and self.started <= until and self.ended >= since


@dataclass
class WorkerProcess:
    """One ``manage.py oban_worker`` subprocess; its output goes to files, never a pipe."""

    node: str
    application_name: str
    popen: subprocess.Popen[bytes]
    output: Path

    @property
    def pid(self) -> int:
        return self.popen.pid


@dataclass
class Nodes:
    """The worker processes, restarted as faults require, and the record of those faults."""

    queues: str
    directory: Path
    oban_settings: dict[str, float]
    live: dict[str, WorkerProcess] = field(default_factory=dict)
    exited: list[tuple[WorkerProcess, int]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    every: list[WorkerProcess] = field(default_factory=list)

    def start(self, node: str, wait: bool = True) -> WorkerProcess:
        """Start a worker process named ``node`` (the name must be free); ``wait`` until it is ready."""
        assert node not in self.live, node
        application_name = f"oban-chaos-{len(self.every) + 1}"
        url = urlsplit(worker_env()["DATABASE_URL"])._replace(query=f"application_name={application_name}").geturl()
        env = worker_env(
            DATABASE_URL=url,
            OBAN_SETTINGS_JSON=json.dumps(self.oban_settings),
            **{LOG_DIR_ENV: str(self.directory)},
        )
        output = self.directory / f"worker-{len(self.every) + 1}-{node}.log"
        with output.open("wb") as sink:
            popen = subprocess.Popen(
                [sys.executable, "manage.py", "oban_worker", "--queues", self.queues, "--node", node],
                cwd=REPO_ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
            )
        process = self.live[node] = WorkerProcess(node, application_name, popen, output)
        self.every.append(process)
        if wait:
            self.wait_ready(process)
        return process

    @staticmethod
    def wait_ready(process: WorkerProcess) -> None:
        """Until ``process`` printed its queues (its signal handlers are installed by then)."""
        popen, output = process.popen, process.output
        wait_until(lambda: popen.poll() is not None or b": queues " in output.read_bytes(), timeout=60, interval=0.05)
        assert popen.poll() is None, output.read_text()

    def kill(self, node: str, same_name: bool) -> None:
        """``kill -9`` the process of ``node``; start a replacement named the same or anew."""
        process = self.live.pop(node)
        started = time.time()
        process.popen.send_signal(signal.SIGKILL)
        process.popen.wait(30)
        self.faults.append(Fault("kill -9", started, time.time(), process.pid, node))
        self.start(node if same_name else f"{node}-r{len(self.every)}")

    def terminate(self, node: str) -> None:
        """SIGTERM the process of ``node``, wait for its graceful exit, start it again."""
        process = self.live.pop(node)
        self.exited.append((process, self._stop(process)))
        self.start(node)

    def restart_postgres(self, data_dir: str) -> None:
        """``pg_ctl restart -m fast``: every connection of every process is dropped."""
        connection.close()
        started = time.time()
        pg_ctl(data_dir, "restart", "-w", "-t", "60", "-m", "fast")
        self.faults.append(Fault("PostgreSQL restart", started, time.time()))

    def drop_connections(self, node: str) -> int:
        """``pg_terminate_backend`` every database session of ``node``'s process."""
        process = self.live[node]
        started = time.time()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
                [process.application_name],
            )
            dropped = cursor.fetchone()[0]
        self.faults.append(Fault("pg_terminate_backend", started, time.time(), process.pid, node))
        return dropped

    def stop_all(self) -> list[tuple[WorkerProcess, int]]:
        """SIGTERM every live process (once: a second SIGTERM reaching a process that is already
        finalizing Python finds the default handler and kills it); the exit statuses of every
        process stopped so (not killed)."""
        for process in self.live.values():
            process.popen.send_signal(signal.SIGTERM)
        while self.live:
            _, process = self.live.popitem()
            self.exited.append((process, self._wait_exit(process)))
        return self.exited

    def kill_all(self) -> None:
        """Clean-up after a failure: no process may outlive the test."""
        for process in self.live.values():
            process.popen.kill()
            process.popen.wait(30)

    def unexpected_output(self) -> list[str]:
        """Lines the worker processes printed besides start, stop and database outages."""
        return [
            f"{process.output.name}: {record}"
            for process in self.every
            for record in _records(process.output.read_text(errors="replace"))
            if not _expected(record)
        ]

    def _stop(self, process: WorkerProcess) -> int:
        process.popen.send_signal(signal.SIGTERM)
        return self._wait_exit(process)

    @staticmethod
    def _wait_exit(process: WorkerProcess) -> int:
        try:
            return process.popen.wait(90)
        except subprocess.TimeoutExpired:
            process.popen.kill()
            process.popen.wait(30)
            return -999  # did not stop within 90 s of SIGTERM


#: How the lines continuing a logged error start: indented, or PostgreSQL's ``LINE 7: …``
#: (with the ``^`` under it), ``DETAIL:``, ``HINT:`` and ``CONTEXT:`` parts of a message.
CONTINUATIONS = ("\t", " ", "LINE ", "DETAIL:", "HINT:", "CONTEXT:")


def _records(output: str) -> list[str]:
    """The lines of ``output``, each joined with the lines continuing it."""
    records: list[str] = []
    for line in output.splitlines():
        if line.startswith(CONTINUATIONS) and records:
            records[-1] += " " + line.strip()
        else:
            records.append(line)
    return records


def _expected(record: str) -> bool:
    if record.startswith("oban_worker "):  # started, stopped
        return True
    if "works again after" in record:
        return True
    lost = "(OperationalError" in record or "(InterfaceError" in record
    return lost and record.endswith("retrying until the database is back")


def executions_directory(tmp: Path) -> Path:
    """A fresh directory for the execution logs and worker output."""
    directory = tmp / "chaos"
    directory.mkdir()
    return directory
