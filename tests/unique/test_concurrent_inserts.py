"""Many connections inserting the same unique jobs at once create each job once (PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connection

import django_oban
from django_oban.models import Job

from .workers import OncePerArgs

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 8
PROCESSES = 4
KEYS = 20
REPO_ROOT = Path(__file__).resolve().parents[2]
INSERT_SCRIPT = f"""
import django
django.setup()
from django_oban import insert_all
from tests.unique.workers import OncePerArgs
for round_ in range(3):
    for key in range({KEYS}):
        OncePerArgs.enqueue({{"key": key}})
    insert_all([OncePerArgs.new({{"key": key}}) for key in range({KEYS})])
"""


def run_in_threads(target) -> list[BaseException]:
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(10)
            target()
        except BaseException as exc:  # noqa: BLE001 (reported by the test)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return errors


def test_threads_enqueueing_the_same_job_at_once_create_one():
    ids: list[int] = []
    assert run_in_threads(lambda: ids.append(OncePerArgs.enqueue({"a": 1}).pk)) == []

    assert Job.objects.count() == 1
    assert set(ids) == {Job.objects.get().pk} and len(ids) == THREADS


def test_threads_inserting_overlapping_batches_create_each_job_once():
    assert run_in_threads(lambda: django_oban.insert_all([OncePerArgs.new({"key": k}) for k in range(KEYS)])) == []

    assert sorted(job.args["key"] for job in Job.objects.all()) == list(range(KEYS))


def test_processes_inserting_the_same_jobs_create_each_once():
    url = urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + connection.settings_dict["NAME"]).geturl()
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "testproject.settings"}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", INSERT_SCRIPT], cwd=REPO_ROOT, env=env, stderr=subprocess.PIPE, text=True
        )
        for _ in range(PROCESSES)
    ]
    failures = [process.communicate(timeout=60)[1] for process in processes if process.wait(60) != 0]

    assert failures == []
    assert sorted(job.args["key"] for job in Job.objects.all()) == list(range(KEYS))
