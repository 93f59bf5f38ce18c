"""A job thread whose connection failed half-way through Django's setup still gets a working
connection for its next job (found by the chaos suite after PostgreSQL restarts)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import DatabaseError, connection, connections

from django_oban.models import Job
from django_oban.runtime.health import JobConnections

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_in_one_thread(first: Callable[[], Any], between: Callable[[], Any], second: Callable[[], Any]) -> list[Any]:
    """``first`` then ``second`` on one new thread, ``between`` on this one in between; the
    result of each step on the thread, or the exception it raised."""
    results: list[Any] = []
    first_done, go_on = threading.Event(), threading.Event()

    def run() -> None:
        for step, then in ((first, first_done), (second, None)):
            try:
                results.append(step())
            except Exception as exc:  # noqa: BLE001 - the result under test
                results.append(exc)
            if then is not None:
                then.set()
                go_on.wait(30)
        connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    assert first_done.wait(30), "the first job did not finish within 30 s"
    between()
    go_on.set()
    thread.join(30)
    assert not thread.is_alive(), "the second job did not finish within 30 s"
    return results


def terminate_other_sessions() -> list[int]:
    """End the database's other sessions, and wait until they have ended: ``pg_terminate_backend``
    only signals them (a check of the thread's socket in between would still find it open)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        terminated: list[int] = [pid for (pid,) in cursor.fetchall()]
        cursor.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [terminated])
        deadline = time.monotonic() + 10
        while True:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [terminated])
            if cursor.fetchone()[0] == 0:
                return terminated
            assert time.monotonic() < deadline, f"sessions {terminated} still there 10 s after pg_terminate_backend"
            time.sleep(0.005)


@pytest.mark.parametrize("conn_max_age", [0, 600])
def test_a_connection_whose_setup_failed_is_replaced_before_the_next_job(
    conn_max_age: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Django keeps the socket of a connection whose setup (``SET ROLE`` here, the time zone
    during a restart in the chaos suite) failed, without sending ``connection_created``;
    when the server then ends that session, the next job must not inherit it."""
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", conn_max_age)  # the thread's connection
    job_connections = JobConnections()
    options = connection.settings_dict["OPTIONS"]

    def job_whose_connection_setup_fails() -> bool:
        job_connections.before_job()
        connection.settings_dict["OPTIONS"] = {**options, "assume_role": "oban_no_such_role"}
        try:
            return Job.objects.exists()
        finally:
            connection.settings_dict["OPTIONS"] = options
            job_connections.after_job()

    def next_job() -> int:
        job_connections.before_job()
        try:
            return Job.objects.count()
        finally:
            job_connections.after_job()

    first, second = run_in_one_thread(job_whose_connection_setup_fails, terminate_other_sessions, next_job)
    assert isinstance(first, DatabaseError) and "oban_no_such_role" in str(first)
    assert second == 0
