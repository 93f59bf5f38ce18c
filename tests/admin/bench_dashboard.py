"""Time the job dashboard on a PostgreSQL table of a million jobs (not a test; run by hand).

    DATABASE_URL=postgres://…/bench .venv/bin/python tests/admin/bench_dashboard.py [--rows 1000000] [--hours 24]

Jobs finish evenly over the last ``--hours`` hours (24: about 42,000 in the last hour for a
million rows; 1: every finished job is in the dashboard's hour, the worst case), over four
queues, eight workers and four nodes, with 100 executing. Prints the wall time of the whole
request (queries and rendering) for a few dashboard URLs and the time of each query.
Without ``DATABASE_URL`` a throw-away cluster from ``tests/pgcluster.py`` is used.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")

URLS = ["", "?queue=mailers", "?worker=app.workers.Report", "?node=web-2", "?panels=1"]

SEED = """
INSERT INTO oban_jobs (state, queue, worker, args, meta, tags, errors, attempt, max_attempts, priority, attempted_by,
                       inserted_at, scheduled_at, attempted_at, completed_at, cancelled_at, discarded_at)
SELECT s.state, (ARRAY['default', 'mailers', 'reports', 'media'])[1 + i % 4],
       'app.workers.' || (ARRAY['SendEmail', 'Report', 'Resize', 'Sync', 'Notify', 'Export', 'Import',
                                'Cleanup'])[1 + i % 8],
       jsonb_build_object('n', i), '{{}}'::jsonb, '[]'::jsonb, '[]'::jsonb, 1, 20, i % 10,
       jsonb_build_array('web-' || (1 + i % 4)),
       t.finished - interval '1 minute', t.finished - (i % 30) * interval '1 second',
       t.finished - (i % 7 + 1) * interval '100 milliseconds',
       CASE WHEN s.state = 'completed' THEN t.finished END,
       CASE WHEN s.state = 'cancelled' THEN t.finished END,
       CASE WHEN s.state = 'discarded' THEN t.finished END
FROM generate_series(1, {rows}) AS i,
LATERAL (SELECT now() - ({rows} - i) * (interval '{hours} hours' / {rows}) AS finished) AS t,
LATERAL (SELECT CASE WHEN i % 10000 < 1 THEN 'executing' WHEN i % 1000 < 20 THEN 'discarded'
                     WHEN i % 1000 < 30 THEN 'cancelled' ELSE 'completed' END AS state) AS s
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    with ExitStack() as stack:
        if not os.environ.get("DATABASE_URL"):
            from tests.pgcluster import TemporaryCluster

            os.environ["DATABASE_URL"] = stack.enter_context(TemporaryCluster()).url
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

    from django_oban.models import Node

    setup_test_environment()
    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE oban_jobs")
        cursor.execute(SEED.format(rows=int(options.rows), hours=int(options.hours)))
        cursor.execute("VACUUM ANALYZE oban_jobs")
    Node.objects.all().delete()
    Node.objects.bulk_create([Node(name=f"web-{index}") for index in range(1, 5)])
    print(f"seeded {options.rows} jobs finishing over {options.hours} h in {time.perf_counter() - started:.1f}s")
    user = User.objects.filter(username="bench").first() or User.objects.create_superuser("bench", "", "pw")
    client = Client()
    client.force_login(user)
    for suffix in URLS:
        url = "/admin/django_oban/job/dashboard/" + suffix
        best = None
        for _ in range(options.repeat):
            with CaptureQueriesContext(connection) as queries:
                began = time.perf_counter()
                response = client.get(url)
                elapsed = time.perf_counter() - began
            assert response.status_code == 200, (url, response.status_code)
            if best is None or elapsed < best[0]:
                best = (elapsed, list(queries.captured_queries))
        elapsed, captured = best
        print(f"{elapsed * 1000:8.1f} ms  {len(captured):2d} queries  {url}")
        for query in captured:
            print(f"           {float(query['time']) * 1000:8.1f} ms  {query['sql'][:110]}")


if __name__ == "__main__":
    main()
