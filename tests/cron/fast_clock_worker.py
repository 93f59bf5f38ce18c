"""``manage.py oban_worker ARGS`` whose cron clock runs ``SPEED`` times faster: the test-only time source.

From the instant ``OBAN_TEST_CLOCK_ORIGIN`` (seconds since the epoch, the same for every process
of a test) every two real seconds are a minute for the cron schedule, so an every-minute entry
has a slot every two seconds, due (the 60 s window) for two seconds. Everything else
(heartbeats, rescue, the jobs' timestamps) keeps real time.
Run as ``python -m tests.cron.fast_clock_worker --node NAME`` from the repository root.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime, timezone

SPEED = 30


def fast_now(using: str = "default") -> datetime:
    origin = float(os.environ["OBAN_TEST_CLOCK_ORIGIN"])
    return datetime.fromtimestamp(origin + (time.time() - origin) * SPEED, tz=timezone.utc)


def main() -> None:
    import django
    from django.core.management import execute_from_command_line

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")
    django.setup()
    from django_oban.cron import schedule

    schedule.database_now = fast_now
    execute_from_command_line(["manage.py", "oban_worker", *sys.argv[1:]])


if __name__ == "__main__":
    main()
