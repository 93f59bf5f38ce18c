#!/usr/bin/env python
"""Run the whole test suite: on PostgreSQL, then on SQLite for what SQLite supports.

First the package is linted (ruff) and type-checked (strict mypy). With ``DATABASE_URL``
set, that PostgreSQL database is used; otherwise a throw-away cluster is started for the run
and removed afterwards. Extra arguments go to pytest (and skip the lint step).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from tests.pgcluster import ENV_DATA_DIR, TemporaryCluster

NO_TESTS_COLLECTED = 5


def pytest(env: dict[str, str], *args: str) -> int:
    return subprocess.call([sys.executable, "-m", "pytest", *args], env=env)


def lint() -> int:
    """ruff and strict mypy on the package (configured in pyproject.toml); their exit status."""
    print("== ruff check django_oban", flush=True)
    status = subprocess.call([sys.executable, "-m", "ruff", "check", "django_oban"])
    print("== mypy (strict) django_oban", flush=True)
    return subprocess.call([sys.executable, "-m", "mypy"]) or status


def ensure_chromium() -> None:
    """Install Debian's chromium for the browser test when missing and we may (root, apt-get)."""
    if os.path.exists("/usr/bin/chromium") or os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    print("== Installing chromium and chromium-driver (apt-get) for the browser test", flush=True)
    subprocess.call("apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null", shell=True)


def main(args: list[str]) -> int:
    lint_status = 0 if args else lint()
    ensure_chromium()
    base = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    if os.environ.get("DATABASE_URL"):
        postgres_status = pytest(dict(os.environ), *args)
    else:
        with TemporaryCluster() as cluster:
            env = {**base, "DATABASE_URL": cluster.url, ENV_DATA_DIR: str(cluster.data_dir)}
            print(f"== PostgreSQL run (throw-away cluster on port {cluster.port})", flush=True)
            postgres_status = pytest(env, *args)
    print("== SQLite run (tests marked 'postgres' deselected)", flush=True)
    sqlite_status = pytest(base, "-m", "not postgres", *args)
    if sqlite_status == NO_TESTS_COLLECTED and postgres_status == 0:
        sqlite_status = 0  # the selection held PostgreSQL-only tests, which did run
    print(f"== lint {lint_status}, PostgreSQL run {postgres_status}, SQLite run {sqlite_status} (exit statuses)")
    return lint_status or postgres_status or sqlite_status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
