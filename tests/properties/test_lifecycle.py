"""A Hypothesis state machine of jobs: inserted, claimed by two nodes, finished by their own
outcomes, and cancelled, retried, deleted and updated by a manager, in any interleaving.

After every step the database must match the model (``model.Expected``) and:

- a finished job changes state only by retry or delete;
- an executing job is never deleted;
- cancel wins: an outcome written after a cancel leaves the job cancelled;
- ``Job.objects.stats()`` counts what the rows hold, and every row is consistent.

CI runs a small derandomized budget; ``OBAN_HYPOTHESIS_PROFILE=thorough`` runs 500 random
examples of 60 steps (see docs/reliability.md). Runs on PostgreSQL and SQLite, under a hard
deadline (``OBAN_HYPOTHESIS_DEADLINE`` seconds) that fails it with a stack dump rather than
letting CI hang.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

import django_oban
from django_oban import Cancel, JobExecutingError, Record, Snooze, Worker
from django_oban.models import Job
from django_oban.runtime import database
from django_oban.runtime.execution import failure, success
from django_oban.states import FINISHED_STATES, JobState

from .deadline import hard_deadline
from .invariants import inconsistent_rows, stats_mismatches
from .model import Expected

settings.register_profile(
    "oban-ci", max_examples=50, stateful_step_count=40, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough", max_examples=500, stateful_step_count=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
PROFILE_NAME = os.environ.get("OBAN_HYPOTHESIS_PROFILE", "oban-ci")
PROFILE = settings.get_profile(PROFILE_NAME)
#: Seconds the whole run may take: about 4 times what it takes on PostgreSQL here (shrinking
#: a failure included); the thorough profile takes as long as it needs.
DEADLINE = float(os.environ.get("OBAN_HYPOTHESIS_DEADLINE") or (240 if PROFILE_NAME == "oban-ci" else 24 * 3600))

QUEUES = ("default", "other")
NODES = ("node-a", "node-b")
OUTCOMES = ("complete", "record", "cancel", "snooze now", "snooze later", "fail, retry now", "fail, retry later")
VIAS = ("function", "queryset", "instance")
#: Fields of a job that only its runs, cancel, retry and delete may change.
RUN_FIELDS = ("state", "attempt", "errors", "attempted_at", "completed_at", "cancelled_at", "discarded_at")
HOUR = 3600


class RetriesNow(Worker):
    def process(self, job: Job) -> None:
        return None

    def backoff(self, job: Job) -> int:
        return 0


class RetriesLater(RetriesNow):
    def backoff(self, job: Job) -> int:
        return HOUR


picks = st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=4)


class JobLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {Job._meta.db_table}")
        self.model: dict[int, Expected] = {}
        #: Jobs claimed and not yet finished: (node, the instance the claim returned).
        self.held: list[tuple[str, Job]] = []
        self.before: dict[int, dict[str, Any]] = {}
        self.step = "start"

    def _ids(self, indexes: list[int]) -> list[int]:
        ids = sorted(self.model)
        return sorted({ids[index % len(ids)] for index in indexes}) if ids else []

    # -- the nodes -------------------------------------------------------------------

    @rule(queue=st.sampled_from(QUEUES), priority=st.integers(0, 9), later=st.booleans(),
          max_attempts=st.integers(1, 3), count=st.integers(1, 3), one_by_one=st.booleans())
    def insert(self, queue: str, priority: int, later: bool, max_attempts: int, count: int, one_by_one: bool) -> None:
        self.step = "insert"
        options = {
            "queue": queue, "priority": priority, "max_attempts": max_attempts, "schedule_in": HOUR if later else 0
        }
        if one_by_one:
            jobs = [RetriesNow.enqueue({}, **options) for _ in range(count)]
        else:
            jobs = django_oban.insert_all([RetriesNow.new({}, **options) for _ in range(count)])
        for job in jobs:
            state = JobState.SCHEDULED if later else JobState.AVAILABLE
            self.model[job.pk] = Expected(state, queue, max_attempts, due=not later)

    @rule(node=st.sampled_from(NODES), queue=st.sampled_from(QUEUES), limit=st.integers(1, 3))
    def claim(self, node: str, queue: str, limit: int) -> None:
        self.step = "claim"
        best = Job.objects.filter(state=JobState.AVAILABLE, queue=queue).order_by("priority", "scheduled_at", "id")
        expected = list(best.values_list("pk", flat=True)[:limit])
        jobs = database.claim(queue, limit, node)
        assert [job.pk for job in jobs] == expected
        for job in jobs:
            assert job.state == JobState.EXECUTING and job.attempted_by[-1] == node
            self.model[job.pk].claimed()
            assert job.attempt == self.model[job.pk].attempt
            self.held.append((node, job))

    @rule(index=st.integers(0, 10**6), outcome=st.sampled_from(OUTCOMES), with_next_claim=st.booleans())
    def finish(self, index: int, outcome: str, with_next_claim: bool) -> None:
        """A held job's own outcome, written as the runtime writes it (stale or not)."""
        if not self.held:
            return
        self.step = "finish"
        node, job = self.held.pop(index % len(self.held))
        result = self._outcome(job, outcome)
        expected = self.model.get(job.pk)
        current_max_attempts = Job.objects.filter(pk=job.pk).values_list("max_attempts", flat=True).first()
        if with_next_claim and result.is_plain_completion:
            database.claim(job.queue, 0, node, completed=[result])
        else:
            database.acknowledge([result])
        if expected is not None and expected.state == JobState.EXECUTING and expected.attempt == job.attempt:
            kind = "complete" if outcome == "record" else outcome
            expected.finished_run(kind, current_max_attempts)

    @staticmethod
    def _outcome(job: Job, outcome: str) -> Any:
        if outcome.startswith("fail"):
            worker = RetriesNow() if outcome == "fail, retry now" else RetriesLater()
            return failure(job, worker, RuntimeError("failed on purpose"), 0.0)
        value = {
            "complete": None, "record": Record({"n": 1}), "cancel": Cancel("by itself"),
            "snooze now": Snooze(0), "snooze later": Snooze(HOUR),
        }[outcome]
        return success(job, value, 0.0)

    @rule()
    def stage(self) -> None:
        self.step = "stage"
        staged = database.stage()
        waiting = (JobState.SCHEDULED, JobState.RETRYABLE)
        due = [expected for expected in self.model.values() if expected.state in waiting and expected.due]
        assert staged == len(due)
        for expected in due:
            expected.staged()

    # -- the manager -------------------------------------------------------------------

    @rule(indexes=picks, via=st.sampled_from(VIAS))
    def cancel(self, indexes: list[int], via: str) -> None:
        self.step = "cancel"
        ids = self._ids(indexes)
        count = sum([self.model[pk].cancelled() for pk in ids])
        self._check_count(via, count, ids, django_oban.cancel_many_jobs, JobQuerySetCall("cancel"), "cancel")

    @rule(indexes=picks, via=st.sampled_from(VIAS))
    def retry(self, indexes: list[int], via: str) -> None:
        self.step = "retry"
        ids = self._ids(indexes)
        count = sum([self.model[pk].retried() for pk in ids])
        self._check_count(via, count, ids, django_oban.retry_many_jobs, JobQuerySetCall("retry"), "retry")

    @rule(indexes=picks, via=st.sampled_from(VIAS))
    def delete(self, indexes: list[int], via: str) -> None:
        self.step = "delete"
        ids = self._ids(indexes)
        deletable = [pk for pk in ids if self.model[pk].state != JobState.EXECUTING]
        if via == "function":
            assert django_oban.delete_many_jobs(ids) == len(deletable)
        elif via == "queryset":
            assert Job.objects.filter(pk__in=ids).delete()[0] == len(deletable)
        else:
            for job in Job.objects.filter(pk__in=ids):
                if job.pk in deletable:
                    job.delete()
                else:
                    with pytest.raises(JobExecutingError):
                        job.delete()
        for pk in deletable:
            del self.model[pk]

    @rule(indexes=picks, change=st.sampled_from(["priority", "queue", "now", "later", "max_attempts", "tags"]),
          value=st.integers(0, 3), via=st.sampled_from(("function", "queryset", "callable")))
    def update(self, indexes: list[int], change: str, value: int, via: str) -> None:
        self.step = "update"
        ids = self._ids(indexes)
        if not ids:
            return
        changes: dict[str, Any] = {
            "priority": {"priority": value}, "queue": {"queue": QUEUES[value % 2]},
            "now": {"schedule_in": 0}, "later": {"schedule_in": HOUR}, "max_attempts": {"max_attempts": value},
            "tags": {"tags": [f"t{value}"]},
        }[change]
        refused = change == "max_attempts" and any(value < max(1, self.model[pk].attempt) for pk in ids)
        snapshot = list(Job.objects.filter(pk__in=ids).order_by("pk").values_list())
        try:
            if via == "function":
                django_oban.update_many_jobs(ids, changes)
            elif via == "queryset":
                Job.objects.filter(pk__in=ids).update_many(changes)
            else:
                django_oban.update_many_jobs(ids, lambda job: changes)
        except ValidationError:
            assert refused, changes
            assert list(Job.objects.filter(pk__in=ids).order_by("pk").values_list()) == snapshot
            return
        assert not refused, changes
        for pk in ids:
            if change in ("now", "later"):
                self.model[pk].rescheduled(change == "now")
            elif change == "queue":
                self.model[pk].queue = changes["queue"]
            elif change == "max_attempts":
                self.model[pk].max_attempts = value

    def _check_count(self, via: str, count: int, ids: list[int], function: Any, queryset: Any, method: str) -> None:
        if via == "function":
            assert function(ids) == count
        elif via == "queryset":
            assert queryset(ids) == count
        else:
            for job in Job.objects.filter(pk__in=ids):
                getattr(job, method)()

    # -- invariants --------------------------------------------------------------------

    @invariant()
    def database_matches_the_model_and_the_rules(self) -> None:
        rows = {job.pk: job for job in Job.objects.all()}
        assert set(rows) == set(self.model)
        for pk, job in rows.items():
            expected = self.model[pk]
            assert (job.state, job.attempt, job.max_attempts, job.queue) == (
                expected.state, expected.attempt, expected.max_attempts, expected.queue
            ), f"job {pk} after {self.step}"
        now = {pk: {field: getattr(job, field) for field in RUN_FIELDS} for pk, job in rows.items()}
        for pk, before in self.before.items():
            if before["state"] == JobState.EXECUTING:
                assert pk in now, f"executing job {pk} deleted by {self.step}"
            if before["state"] in FINISHED_STATES and self.step not in ("retry", "delete") and pk in now:
                assert now[pk] == before, f"finished job {pk} changed by {self.step}"
        assert inconsistent_rows(rows.values()) == {}
        assert stats_mismatches(rows.values()) == {}
        self.before = now


class JobQuerySetCall:
    """``Job.objects.filter(pk__in=ids).<method>()``, the QuerySet way of an operation."""

    def __init__(self, method: str) -> None:
        self.method = method

    def __call__(self, ids: list[int]) -> int:
        return getattr(Job.objects.filter(pk__in=ids), self.method)()


@pytest.mark.django_db(transaction=True)
def test_no_interleaving_of_runs_and_management_breaks_the_rules() -> None:
    with hard_deadline(DEADLINE, "the job lifecycle state machine"):
        run_state_machine_as_test(JobLifecycle, settings=PROFILE)
