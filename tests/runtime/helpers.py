"""Waiting on conditions, and workers in threads or subprocesses, for the runtime tests."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.db import connection

from django_oban.runtime import Runner

REPO_ROOT = Path(__file__).resolve().parents[2]


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.01) -> Any:
    """Poll ``predicate`` until it returns something truthy (returned) or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout}s: {predicate}")
        time.sleep(interval)


@contextmanager
def running_worker(queues: dict[str, int] | None = None, **options: Any) -> Iterator[Runner]:
    """A ``Runner`` in a thread for the duration of the block, stopped (gracefully) after it."""
    options.setdefault("heartbeat_interval", 0.2)
    options.setdefault("shutdown_grace", 5)
    runner = Runner(queues or {"default": 5}, options.pop("node", "test-node"), **options)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    runner.ready.wait(5)
    try:
        yield runner
    finally:
        runner.stopping.set()
        thread.join(30)
        assert not thread.is_alive(), "the worker did not stop"


def worker_env(**overrides: str) -> dict[str, str]:
    """Environment for a ``manage.py`` subprocess on the current test database."""
    url = urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + connection.settings_dict["NAME"]).geturl()
    return {**os.environ, "DATABASE_URL": url, "OBAN_LOG_LEVEL": "WARNING", **overrides}


def start_worker(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``manage.py oban_worker ARGS`` in a subprocess."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "oban_worker", *args],
        cwd=REPO_ROOT,
        env=env or worker_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
