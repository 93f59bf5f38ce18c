"""The job operations and their rules, in one table.

For each operation (cancel, retry, delete, update, the admin's "run now" and prune): the
states it skips, why, and the past-tense verb that reports it. ``JobQuerySet`` acts on the
states an operation does not skip; the admin's buttons and messages and the management
commands' reports read the same entries, so a rule and its wording live here only::

    from django_oban.operations import CANCEL, OPERATIONS

    CANCEL.skipped_states        # ("completed", "discarded", "cancelled")
    CANCEL.skip_reason           # "already finished"
    CANCEL.past                  # "cancelled"
    CANCEL.acts_on(job.state)    # False for a finished job
    RETRY.duplicate_reason       # "unique": also skips unique jobs that would duplicate one
    DELETE.skip_reason           # "still running": executing jobs are left alone
    OPERATIONS["retry"].target_states
    Job.objects.filter(queue="mailers").skipped_by(CANCEL)   # {"completed": 2}
"""

from __future__ import annotations

from dataclasses import dataclass

from .states import FINISHED_STATES, INCOMPLETE_STATES, JobState


@dataclass(frozen=True)
class Operation:
    """One way of changing jobs: the states it leaves alone, why, and the words that report it."""

    name: str
    #: Past tense, lower case: "3 jobs cancelled".
    past: str
    skipped_states: tuple[str, ...] = ()
    #: Why jobs in ``skipped_states`` are left alone: "2 completed jobs skipped (already finished)".
    skip_reason: str = ""
    #: Why it also skips unique jobs it would make duplicates (retry: ``JobQuerySet.retry_duplicates()``;
    #: update: the jobs returned with ``conflict = True``); empty if it never makes one.
    duplicate_reason: str = ""

    @property
    def target_states(self) -> tuple[str, ...]:
        """The states of the jobs this operation changes, in ``JobState`` order."""
        return tuple(state for state in JobState.values if state not in self.skipped_states)

    def acts_on(self, state: str) -> bool:
        """Whether a job in ``state`` is changed by this operation."""
        return state not in self.skipped_states


CANCEL = Operation("cancel", "cancelled", FINISHED_STATES, "already finished")
#: The reason an operation gives for skipping a unique job it would turn into a duplicate…
UNIQUE = "unique"
#: …and what that reason means, for the messages people read.
DUPLICATE_EXPLANATION = "would duplicate a unique job"
RETRY = Operation(
    "retry", "retried", (JobState.AVAILABLE, JobState.EXECUTING), "already available or executing", UNIQUE
)
DELETE = Operation("delete", "deleted", (JobState.EXECUTING,), "still running")
UPDATE = Operation("update", "updated", duplicate_reason=UNIQUE)
#: Scheduled and retryable jobs due now: an update of ``scheduled_at`` to now.
RUN_NOW = Operation(
    "run_now",
    "scheduled to run now",
    tuple(state for state in JobState.values if state not in (JobState.SCHEDULED, JobState.RETRYABLE)),
    "not scheduled or retryable",
)
#: Deleting finished jobs (the prune also requires them to have finished long enough ago).
PRUNE = Operation("prune", "pruned", INCOMPLETE_STATES, "not finished")

#: Every operation by name.
OPERATIONS: dict[str, Operation] = {
    operation.name: operation for operation in (CANCEL, RETRY, DELETE, UPDATE, RUN_NOW, PRUNE)
}


def operation_named(operation: str | Operation) -> Operation:
    """The ``Operation`` itself, or the one of that name; ``ValueError`` for an unknown name."""
    if isinstance(operation, Operation):
        return operation
    try:
        return OPERATIONS[operation]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown operation {operation!r}; operations are {', '.join(OPERATIONS)}.") from None
