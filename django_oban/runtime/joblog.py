"""One log line per job outcome, on the ``django_oban.worker`` logger at INFO.

The message reads ``job 42 retryable: app.workers.Send on mailers, attempt 1/20, ran 0.012s,
waited 0.300s: ValueError: bad address``; the same facts are fields of the record (``extra``),
under keys log shippers can rely on: ``KEYS``.
"""

from __future__ import annotations

import logging
from typing import Any

from ..models import Job

logger = logging.getLogger("django_oban.worker")

#: The fields of each outcome record, besides the standard ones.
KEYS = ("job_id", "worker", "queue", "attempt", "max_attempts", "state", "duration", "queue_time", "error")


def queue_time(job: Job) -> float | None:
    """Seconds from when the job was due (``scheduled_at``) to the start of this attempt; ``None`` if unknown."""
    if job.attempted_at is None or job.scheduled_at is None:
        return None
    return max((job.attempted_at - job.scheduled_at).total_seconds(), 0.0)


def log_outcome(job: Job, state: str, duration: float, error: str | None) -> None:
    """Log the outcome of ``job``'s attempt (``state`` written after ``duration`` seconds, ``error`` text)."""
    if not logger.isEnabledFor(logging.INFO):
        return
    fields: dict[str, Any] = {
        "job_id": job.pk,
        "worker": job.worker,
        "queue": job.queue,
        "attempt": job.attempt,
        "max_attempts": job.max_attempts,
        "state": state,
        "duration": round(duration, 6),
        "queue_time": queue_time(job),
        "error": error,
    }
    waited = "" if fields["queue_time"] is None else f", waited {fields['queue_time']:.3f}s"
    logger.info(
        "job %s %s: %s on %s, attempt %s/%s, ran %.3fs%s%s",
        job.pk, state, job.worker, job.queue, job.attempt, job.max_attempts, duration, waited,
        f": {error}" if error else "",
        extra=fields,
    )
