"""What must hold of every stored job, whatever happened to it; shared by the property tests
and the chaos suite."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from django_oban.models import Job
from django_oban.states import JobState

#: The state each finishing timestamp belongs to: set exactly when the job is in that state.
FINISH_TIMESTAMPS = {
    "completed_at": JobState.COMPLETED,
    "cancelled_at": JobState.CANCELLED,
    "discarded_at": JobState.DISCARDED,
}


def row_problems(job: Job) -> list[str]:
    """Why ``job`` is inconsistent (state against timestamps, attempts, nodes); empty if it is not."""
    problems = []
    if job.state not in JobState.values:
        problems.append(f"unknown state {job.state!r}")
    for column, state in FINISH_TIMESTAMPS.items():
        if (getattr(job, column) is not None) != (job.state == state):
            problems.append(f"{column}={getattr(job, column)} in state {job.state}")
    if not 0 <= job.attempt <= job.max_attempts:
        problems.append(f"attempt {job.attempt} outside 0..max_attempts {job.max_attempts}")
    ran = job.state in (JobState.EXECUTING, JobState.COMPLETED, JobState.DISCARDED, JobState.RETRYABLE)
    if ran and job.attempt < 1:
        problems.append(f"{job.state} job with attempt {job.attempt}")
    if (ran or job.attempt > 0) and (job.attempted_at is None or not job.attempted_by):
        problems.append(f"attempt {job.attempt} in state {job.state} without attempted_at/attempted_by")
    if job.state == JobState.COMPLETED and job.attempted_at and job.completed_at < job.attempted_at:
        problems.append(f"completed_at {job.completed_at} before attempted_at {job.attempted_at}")
    if not 0 <= job.priority <= 9:
        problems.append(f"priority {job.priority}")
    return problems


def inconsistent_rows(jobs: Iterable[Job]) -> dict[int, list[str]]:
    """The problems of each inconsistent job, by id."""
    found = {job.pk: row_problems(job) for job in jobs}
    return {pk: problems for pk, problems in found.items() if problems}


def stats_mismatches(jobs: Iterable[Job]) -> dict[tuple[str, str], tuple[int, int]]:
    """(queue, state) -> (``Job.objects.stats()`` count, count of the rows) where they differ."""
    rows = Counter((job.queue, job.state) for job in jobs)
    reported = Counter(
        {(queue, state): count for queue, states in Job.objects.stats().items() for state, count in states.items()}
    )
    keys = {key for key, count in [*rows.items(), *reported.items()] if count}
    return {key: (reported[key], rows[key]) for key in sorted(keys) if reported[key] != rows[key]}
