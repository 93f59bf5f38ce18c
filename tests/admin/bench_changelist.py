"""Time the job change list on a PostgreSQL table of a million jobs (not a test; run by hand).

    .venv/bin/python tests/admin/bench_changelist.py [--rows 1000000] [--explain]

Uses ``DATABASE_URL`` when set (the table is seeded once and reused), otherwise a throw-away
cluster from ``tests/pgcluster.py``. For each change list URL it prints the wall time of the
whole request (queries and rendering) and the time of each SQL query; ``--explain`` adds the
``EXPLAIN ANALYZE`` plan of every query that took over 20 ms.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")

URLS = [
    "",
    "?state__exact=discarded",
    "?state__exact=executing",
    "?queue__exact=mailers",
    "?worker__exact=app.workers.Rare",
    "?priority__exact=9",
    "?inserted_at__gte={today}",
    "?q=SendEmail",
    "?q=nomatch",
    "?q=urgent",
    "?q=123456",
    "?o=7",
    "?p=500",
]

SEED = """
INSERT INTO oban_jobs (state, queue, worker, args, meta, tags, errors, attempt, max_attempts, priority,
                       attempted_by, inserted_at, scheduled_at, attempted_at, completed_at, cancelled_at, discarded_at)
SELECT s.state,
       (ARRAY['default', 'mailers', 'reports', 'media'])[1 + i % 4],
       CASE WHEN i % 100000 = 7 THEN 'app.workers.Rare'
            ELSE 'app.workers.' || (ARRAY['SendEmail', 'Report', 'Resize', 'Sync', 'Notify', 'Export',
                                          'Import', 'Cleanup'])[1 + i % 8] END,
       jsonb_build_object('n', i), '{}'::jsonb,
       CASE WHEN i % 50 = 0 THEN '["urgent"]'::jsonb ELSE '[]'::jsonb END,
       '[]'::jsonb,
       CASE WHEN s.state IN ('available', 'scheduled') THEN 0 ELSE 1 END, 20, i % 10, '[]'::jsonb,
       now() - (({rows} - i) || ' seconds')::interval, now() - (({rows} - i) || ' seconds')::interval,
       CASE WHEN s.state IN ('available', 'scheduled') THEN NULL ELSE now() END,
       CASE WHEN s.state = 'completed' THEN now() END,
       CASE WHEN s.state = 'cancelled' THEN now() END,
       CASE WHEN s.state = 'discarded' THEN now() END
FROM generate_series(1, {rows}) AS i,
LATERAL (SELECT CASE WHEN i % 1000 < 900 THEN 'completed' WHEN i % 1000 < 930 THEN 'available'
                     WHEN i % 1000 < 950 THEN 'scheduled' WHEN i % 1000 < 960 THEN 'retryable'
                     WHEN i % 1000 < 980 THEN 'discarded' WHEN i % 1000 < 995 THEN 'cancelled'
                     WHEN i % 10000 = 999 THEN 'executing' ELSE 'completed' END AS state) AS s
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reseed", action="store_true", help="seed the table again even if it is full")
    options = parser.parse_args()
    with ExitStack() as stack:
        if not os.environ.get("DATABASE_URL"):
            from tests.pgcluster import TemporaryCluster

            cluster = stack.enter_context(TemporaryCluster())
            os.environ["DATABASE_URL"] = cluster.url
        run(options)


def run(options: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment
    from django.utils import timezone

    from django_oban.models import Job

    setup_test_environment()
    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    if options.reseed or Job.objects.count() < options.rows:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE oban_jobs")
            cursor.execute(SEED.replace("{rows}", str(int(options.rows))))
            cursor.execute("VACUUM ANALYZE oban_jobs")
        print(f"seeded {options.rows} jobs in {time.perf_counter() - started:.1f}s")
    user = User.objects.filter(username="bench").first() or User.objects.create_superuser("bench", "", "pw")
    client = Client()
    client.force_login(user)
    midnight = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    today = quote(midnight.isoformat(sep=" "))
    for suffix in URLS:
        url = "/admin/django_oban/job/" + suffix.format(today=today)
        best = None
        for _ in range(options.repeat):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(url)
                elapsed = time.perf_counter() - started
            assert response.status_code == 200, (url, response.status_code)
            if best is None or elapsed < best[0]:
                best = (elapsed, list(queries.captured_queries))
        elapsed, captured = best
        print(f"{elapsed * 1000:8.1f} ms  {len(captured):2d} queries  {url}")
        for query in captured:
            ms = float(query["time"]) * 1000
            if ms >= 5:
                print(f"           {ms:8.1f} ms  {query['sql'][:150]}")
            if options.explain and ms >= 20 and query["sql"].lstrip().upper().startswith(("SELECT", "WITH")):
                with connection.cursor() as cursor:
                    cursor.execute("EXPLAIN ANALYZE " + query["sql"])
                    print("\n".join("               " + row[0] for row in cursor.fetchall()))


if __name__ == "__main__":
    main()
