"""A throw-away PostgreSQL cluster for the test suite.

``initdb`` in a temporary directory, a server on a free loopback port, stopped and removed
afterwards. PostgreSQL refuses to run as root, so as root every server command runs as the
``postgres`` system user, which owns the directory.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

ENV_DATA_DIR = "OBAN_TEST_PGDATA"


def _bindir() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    return Path(subprocess.run(["pg_config", "--bindir"], check=True, capture_output=True, text=True).stdout.strip())


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pg_ctl(data_dir: str | Path, *args: str) -> None:
    """Run ``pg_ctl`` on ``data_dir`` as the user owning the cluster."""
    command = _as_server_user([str(_bindir() / "pg_ctl"), "-D", str(data_dir), *args])
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


class TemporaryCluster:
    """Context manager yielding the ``DATABASE_URL`` of a fresh, running cluster.

    By default commits are not durable (``fsync=off``: fast tests); ``durable=True`` keeps
    PostgreSQL's defaults, as users run it (the benchmarks).
    """

    def __init__(self, *, durable: bool = False) -> None:
        self.durable = durable
        self.root = Path(tempfile.mkdtemp(prefix="django-oban-pg-"))
        self.data_dir = self.root / "data"
        self.port = _free_port()

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def __enter__(self) -> TemporaryCluster:
        try:
            self._start()
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            pg_ctl(self.data_dir, "stop", "-m", "immediate", "-w")
        finally:
            self._remove()

    def _start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        initdb = _as_server_user(
            [str(_bindir() / "initdb"), "-D", str(self.data_dir), "-U", "postgres", "-A", "trust", "-E", "UTF8",
             "--locale=C", "--no-sync"]
        )
        subprocess.run(initdb, check=True, stdout=subprocess.DEVNULL)
        fast = [] if self.durable else ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        options = " ".join(
            [
                f"-p {self.port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.root}",
                *fast,
                "-c max_connections=300",
            ]
        )
        pg_ctl(self.data_dir, "start", "-w", "-t", "60", "-l", str(self.root / "server.log"), "-o", options)

    def _remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
