"""What the property tests expect of each job, kept beside the database and compared after
every step: state, attempt, max_attempts, queue, and whether ``scheduled_at`` has come."""

from __future__ import annotations

from dataclasses import dataclass

from django_oban.states import FINISHED_STATES, JobState


@dataclass
class Expected:
    """One job as the rules say it must be."""

    state: str
    queue: str
    max_attempts: int
    attempt: int = 0
    #: ``scheduled_at`` is in the past (every delay in these tests is 0 or an hour).
    due: bool = True

    @property
    def incomplete(self) -> bool:
        return self.state not in FINISHED_STATES

    def claimed(self) -> None:
        self.state = JobState.EXECUTING
        self.attempt += 1
        self.max_attempts = max(self.max_attempts, self.attempt)

    def cancelled(self) -> bool:
        if not self.incomplete:
            return False
        self.state = JobState.CANCELLED
        return True

    def retried(self) -> bool:
        if self.state in (JobState.AVAILABLE, JobState.EXECUTING):
            return False
        self.state, self.due = JobState.AVAILABLE, True
        self.max_attempts = max(self.max_attempts, self.attempt + 1)
        return True

    def rescheduled(self, due: bool) -> None:
        self.due = due
        if self.state in (JobState.AVAILABLE, JobState.SCHEDULED):
            self.state = JobState.AVAILABLE if due else JobState.SCHEDULED

    def staged(self) -> None:
        if self.state in (JobState.SCHEDULED, JobState.RETRYABLE) and self.due:
            self.state = JobState.AVAILABLE

    def finished_run(self, outcome: str, max_attempts: int) -> None:
        """The job's own outcome of its current attempt: ``max_attempts`` as the runtime saw it."""
        if outcome == "complete":
            self.state = JobState.COMPLETED
        elif outcome == "cancel":
            self.state = JobState.CANCELLED
        elif outcome in ("snooze now", "snooze later"):
            self.attempt = max(self.attempt - 1, 0)
            self.rescheduled(outcome == "snooze now")
            self.state = JobState.AVAILABLE if self.due else JobState.SCHEDULED
        elif self.attempt >= max_attempts:
            self.state = JobState.DISCARDED
        else:
            self.state, self.due = JobState.RETRYABLE, outcome == "fail, retry now"
