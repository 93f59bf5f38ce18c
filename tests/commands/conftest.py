"""Helpers for the management command tests: run a command in-process or as a real process."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.db import connection

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Output:
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


class TerminalIO(io.StringIO):
    """A stream that claims to be a terminal, so commands draw their progress bar on it."""

    def isatty(self) -> bool:
        return True


def run(
    command: str, *args: Any, stdout: io.StringIO | None = None, stderr: io.StringIO | None = None, **options: Any
) -> Output:
    """``call_command`` with stdout and stderr captured (in the streams given, if any) and colours off."""
    out = stdout if stdout is not None else io.StringIO()
    err = stderr if stderr is not None else io.StringIO()
    call_command(command, *args, stdout=out, stderr=err, no_color=True, **options)
    return Output(out.getvalue(), err.getvalue())


@pytest.fixture
def manage_env(transactional_db: None) -> dict[str, str]:
    """The environment for a ``manage.py`` subprocess using the test database (PostgreSQL only)."""
    if connection.vendor != "postgresql":
        pytest.skip("a subprocess cannot share the in-memory SQLite test database")
    url = urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + connection.settings_dict["NAME"]).geturl()
    return {**os.environ, "DATABASE_URL": url}


def manage_command(*args: str) -> list[str]:
    return [sys.executable, "manage.py", *args]


@pytest.fixture
def manage(manage_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``manage.py`` in a subprocess against the test database, capturing its output."""

    def manage(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            manage_command(*args), cwd=REPO_ROOT, env=manage_env, capture_output=True, text=True, timeout=120
        )

    return manage
