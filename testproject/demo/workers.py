"""Sample workers of the demo site."""

from __future__ import annotations

import time

from django_oban import Cancel, Record, Worker


class SendWelcomeEmail(Worker):
    """Pretends to send an email and records to whom."""

    queue = "mailers"
    max_attempts = 5
    tags = ["email"]

    def process(self, job):
        time.sleep(0.2)
        return Record({"sent_to": job.args.get("to")})


class GenerateReport(Worker):
    """A long-running job (a minute) that stops cleanly when cancelled from the admin."""

    queue = "reports"
    tags = ["report"]

    def process(self, job):
        for _ in range(job.args.get("steps", 120)):
            if job.cancelled():
                return Cancel("Cancelled while generating the report")
            time.sleep(0.5)
        return Record({"rows": job.args.get("steps", 120) * 100})


class FlakyWebhook(Worker):
    """Fails its first attempts, then succeeds: shows retries with backoff."""

    max_attempts = 5
    tags = ["webhook"]

    def process(self, job):
        if job.attempt < job.args.get("succeed_on_attempt", 3):
            raise ConnectionError(f"{job.args.get('url', 'the endpoint')} timed out")

    def backoff(self, job):
        return 5


class Noop(Worker):
    """Does nothing: used by the throughput benchmark."""

    def process(self, job):
        return None
