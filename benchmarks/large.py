"""The big-table scenarios (django-oban only): the admin and the claim on a table of 10,000,000 jobs.

The table is filled once by SQL (``fill``): 99.8 % finished jobs (97 % completed, 1.5 %
discarded, 1.5 % cancelled) inserted over the last seven days in five queues by twenty
workers, a tenth of them tagged, and the newest 20,000 waiting (available, scheduled,
retryable) in those queues; then ``VACUUM ANALYZE`` and a ``CHECKPOINT``. Then:

- ``admin_pages``: the job change list as an operator opens it (Django's test client, logged
  in as a superuser, the whole request: queries and rendering), unfiltered, filtered and
  searched; the median of ``repeats`` requests each, in ms;
- ``admin_retry``: the admin's *Retry selected jobs* on "select all" of a filtered list
  (``?queue__exact=…&state__exact=discarded``, about 30,000 jobs), the whole POST, in ms;
- claim latency: ``scenarios.pickup`` on the ``default`` queue without emptying the table.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import psycopg

CHANGELIST = "/admin/django_oban/job/"
PAGES = {
    "unfiltered": "",
    "filtered by state (discarded)": "?state__exact=discarded",
    "filtered by queue": "?queue__exact=queue-3",
    "searched by worker (5 % of the jobs)": "?q=Worker7",
    "searched by tag (0.2 % of the jobs)": "?q=tag10",
    "page 500 (or the middle page of a smaller table)": "?p={page}",
}
WAITING = 20_000
FILL = """
INSERT INTO oban_jobs (state, queue, worker, args, meta, tags, errors, attempt, max_attempts, priority,
                       attempted_by, inserted_at, scheduled_at, attempted_at, completed_at, cancelled_at,
                       discarded_at)
SELECT state, 'queue-' || (i %% 5), 'app.jobs.Worker' || (i %% 20), jsonb_build_object('id', i), '{}',
       CASE WHEN i %% 10 = 0 THEN jsonb_build_array('tag' || (i %% 50)) ELSE '[]' END, '[]',
       CASE WHEN waiting THEN 0 ELSE 1 END, 20, i %% 4,
       CASE WHEN waiting THEN '[]'::jsonb ELSE '["node-1"]' END, at, at,
       CASE WHEN NOT waiting THEN at + interval '1 second' END,
       CASE WHEN state = 'completed' THEN at + interval '2 seconds' END,
       CASE WHEN state = 'cancelled' THEN at + interval '2 seconds' END,
       CASE WHEN state = 'discarded' THEN at + interval '2 seconds' END
FROM generate_series(%(first)s::bigint, %(last)s) AS i,
     LATERAL (SELECT now() - interval '7 days' * (1 - i::float8 / %(total)s) AS at,
                     i > %(total)s - %(waiting)s AS waiting) AS t,
     LATERAL (SELECT CASE WHEN waiting THEN (ARRAY['available', 'scheduled', 'retryable', 'available'])[i %% 4 + 1]
                          WHEN i %% 1000 < 970 THEN 'completed'
                          WHEN i %% 1000 < 985 THEN 'discarded'
                          ELSE 'cancelled' END AS state) AS s
"""


def fill(db: psycopg.Connection[Any], jobs: int, chunk: int = 1_000_000) -> float:
    """Empty the table and fill it with ``jobs`` jobs as described above; the seconds it took."""
    started = time.perf_counter()
    db.execute("TRUNCATE oban_jobs")
    for first in range(1, jobs + 1, chunk):
        last = min(first + chunk - 1, jobs)
        db.execute(FILL, {"first": first, "last": last, "total": jobs, "waiting": min(WAITING, jobs // 10)})
    db.execute("VACUUM ANALYZE oban_jobs")
    db.execute("CHECKPOINT")  # the fill's gigabytes of WAL written out now, not during the measurements
    return time.perf_counter() - started


def operator() -> Any:
    """A test client logged in as a superuser."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    user_model = get_user_model()
    user = user_model.objects.filter(username="bench").first()
    if user is None:
        user = user_model.objects.create_superuser("bench", "bench@example.com", "bench")
    client = Client()
    client.force_login(user)
    return client


def admin_pages(jobs: int, repeats: int = 3) -> dict[str, float]:
    """The median ms of ``repeats`` requests of each change list page of ``PAGES`` (``jobs`` in the table)."""
    client = operator()
    figures = {}
    for name, query in PAGES.items():
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            response = client.get(CHANGELIST + query.format(page=min(500, jobs // 200)))
            times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{CHANGELIST + query} answered {response.status_code}")
        figures[name] = statistics.median(times)
    return figures


def admin_retry(db: psycopg.Connection[Any], queue: str) -> tuple[float, int]:
    """(ms, jobs retried) of the admin's retry action on every discarded job of ``queue``."""
    query = f"?queue__exact={queue}&state__exact=discarded"
    (expected,) = db.execute(  # type: ignore[misc]
        "SELECT count(*) FROM oban_jobs WHERE queue = %s AND state = 'discarded'", [queue]
    ).fetchone()
    # What a browser posts for "Select all": the ticked rows of the page shown, and select_across.
    shown = [str(pk) for (pk,) in db.execute(
        "SELECT id FROM oban_jobs WHERE queue = %s AND state = 'discarded' ORDER BY id DESC LIMIT 100", [queue]
    )]
    client = operator()
    started = time.perf_counter()
    response = client.post(CHANGELIST + query, {"action": "retry_jobs", "select_across": "1", "index": "0",
                                                "_selected_action": shown})
    elapsed = (time.perf_counter() - started) * 1000
    (left,) = db.execute(  # type: ignore[misc]
        "SELECT count(*) FROM oban_jobs WHERE queue = %s AND state = 'discarded'", [queue]
    ).fetchone()
    if response.status_code != 302 or left:
        raise RuntimeError(f"the retry action answered {response.status_code} and left {left} jobs discarded")
    return elapsed, expected
