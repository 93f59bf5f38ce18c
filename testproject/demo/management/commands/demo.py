"""``manage.py demo``: migrate, create sample jobs and an admin login, run a worker and the site."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand
from django.utils import timezone

from django_oban import JobState, insert_all
from django_oban.models import Job
from testproject.demo.workers import FlakyWebhook, GenerateReport, SendWelcomeEmail

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin"
#: Welcome emails coming due one every TRICKLE_SECONDS in the "mailers" queue, so that pausing
#: the queue on the admin's Queues page shows its jobs waiting (and resuming, running them).
TRICKLE = 20
TRICKLE_SECONDS = 15


def sample_jobs() -> list[Job]:
    """Jobs in every state but executing (a running worker makes those)."""
    now = timezone.now()
    error = {"at": now.isoformat(), "attempt": 1, "error": "ConnectionError: https://example.com/hook timed out"}
    jobs = [SendWelcomeEmail.new({"to": f"user{n}@example.com"}) for n in range(5)]
    jobs += [
        GenerateReport.new({"steps": 120}, meta={"hint": "cancel me from the admin while I run"}),
        SendWelcomeEmail.new({"to": "later@example.com"}, schedule_in=3600),
        *(SendWelcomeEmail.new({"to": f"trickle{n}@example.com"}, schedule_in=TRICKLE_SECONDS * n)
          for n in range(1, TRICKLE + 1)),
        FlakyWebhook.new({"url": "https://example.com/hook"}),
    ]
    finished = [
        (SendWelcomeEmail.new({"to": "done@example.com"}), JobState.COMPLETED, {"completed_at": now}),
        (FlakyWebhook.new({"url": "https://example.com/gone"}), JobState.DISCARDED, {"discarded_at": now}),
        (GenerateReport.new({"steps": 5}), JobState.CANCELLED, {"cancelled_at": now}),
        (FlakyWebhook.new({"url": "https://example.com/slow"}), JobState.RETRYABLE, {}),
    ]
    for job, state, stamps in finished:
        job.state, job.attempt = state, 1 if state != JobState.DISCARDED else job.max_attempts
        job.attempted_at = now - timedelta(minutes=1)
        job.errors = [] if state == JobState.COMPLETED else [error]
        if state == JobState.RETRYABLE:
            job.scheduled_at = now + timedelta(minutes=10)
        for field, value in stamps.items():
            setattr(job, field, value)
        jobs.append(job)
    return jobs


class Command(BaseCommand):
    help = "Run the django-oban demo: migrate, add sample jobs and an admin login, start a worker and the site."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000", help="Where the site listens.")
        parser.add_argument("--no-worker", action="store_true", help="Do not start a worker process.")
        parser.add_argument("--no-server", action="store_true", help="Set up the data, then exit.")

    def handle(self, *args, **options):
        call_command("migrate", interactive=False, verbosity=0)
        self._ensure_admin()
        if not Job.objects.exists():
            insert_all(sample_jobs())
            self.stdout.write(self.style.SUCCESS(f"Created {Job.objects.count()} sample jobs."))
        self.stdout.write(
            self.style.SUCCESS(
                f"Admin: http://{options['addrport']}/admin/  user {ADMIN_USERNAME!r}, password {ADMIN_PASSWORD!r}"
            )
        )
        self.stdout.write(
            f"Queues: http://{options['addrport']}/admin/django_oban/job/queues/  pause 'mailers' and watch its"
            f" jobs wait (a welcome email comes due every {TRICKLE_SECONDS} s), then resume it."
        )
        if options["no_server"]:
            return
        worker = None if options["no_worker"] else self._start_worker()
        # Stopped by SIGTERM too (not only Ctrl-C), the demo stops its worker before it exits.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        try:
            call_command("runserver", options["addrport"], use_reloader=False)
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(timeout=30)

    def _ensure_admin(self) -> None:
        users = get_user_model()
        if not users.objects.filter(username=ADMIN_USERNAME).exists():
            users.objects.create_superuser(ADMIN_USERNAME, "admin@example.com", ADMIN_PASSWORD)

    def _start_worker(self) -> subprocess.Popen | None:
        if "oban_worker" not in get_commands():
            self.stderr.write("No oban_worker command in this version: jobs will not run.")
            return None
        manage = Path(__file__).resolve().parents[4] / "manage.py"
        self.stdout.write("Starting a worker: manage.py oban_worker")
        return subprocess.Popen([sys.executable, str(manage), "oban_worker"])
