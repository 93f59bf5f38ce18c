"""The chaos suite's manager: inserts jobs and, at random, cancels, retries, updates and deletes
them through the public API, on its own thread and connection, recording what it did."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError, connection, transaction

import django_oban
from django_oban.models import Job
from django_oban.states import FINISHED_STATES, JobState

from .jobs import PLANS, ChaosJob

QUEUES = ("alpha", "beta", "gamma")
INSERT_BATCH = 50
#: What a call raises when a fault drops its connection (anything else is a bug).
FAULT_ERRORS = (OperationalError, InterfaceError)


@dataclass
class Ledger:
    """What the actor did: jobs it inserted and deleted, and when it retried which."""

    inserted: set[int] = field(default_factory=set)
    #: Sequence numbers (``args["n"]``) of jobs whose insert failed with a connection error:
    #: the ``COMMIT`` may or may not have happened.
    maybe_inserted: set[int] = field(default_factory=set)
    deleted: set[int] = field(default_factory=set)
    maybe_deleted: set[int] = field(default_factory=set)
    #: Job id -> times the actor retried it (logged just before committing).
    retried: dict[int, list[float]] = field(default_factory=dict)
    operations: Counter[str] = field(default_factory=Counter)
    #: Anything the public API did that it must not: unexpected exceptions, wrong counts.
    errors: list[str] = field(default_factory=list)


def job_args(rng: random.Random, n: int) -> dict[str, object]:
    """Arguments of the ``n``-th job: mostly short runs that complete, some longer, some failing."""
    ms = rng.choice([0, 5, 20, 50, 100]) if rng.random() < 0.95 else rng.randint(200, 1000)
    plan = rng.choices(PLANS, weights=[70, 10, 8, 6, 3, 3])[0]
    return {"n": n, "ms": ms, "plan": plan}


class Actor(threading.Thread):
    """Inserts ``total`` jobs in batches, keeping about ``backlog`` of them unfinished, while
    acting on random ones, until ``stop`` is set."""

    def __init__(self, total: int, backlog: int, seed: int, stop: threading.Event) -> None:
        super().__init__(name="chaos-actor", daemon=True)
        self.rng = random.Random(seed)
        self.total = total
        self.backlog = backlog
        self.stop = stop
        self.ledger = Ledger()
        self.live: list[int] = []
        self.next_n = 0

    @property
    def inserted_all(self) -> bool:
        return self.next_n >= self.total

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self._step()
                self.stop.wait(self.rng.uniform(0.01, 0.05))
        finally:
            connection.close()

    def _step(self) -> None:
        if self.rng.random() < 0.5 and self._wants_jobs():
            operation = self._insert
        else:
            operation = self.rng.choices(
                [self._cancel, self._retry, self._update, self._refused_update, self._delete],
                weights=[3, 2, 4, 1, 1],
            )[0]
        try:
            operation()
        except FAULT_ERRORS:
            self.ledger.operations[f"{operation.__name__.strip('_')} interrupted by a fault"] += 1
            connection.close()
        except Exception as exc:  # noqa: BLE001 - recorded, the test fails on it
            self.ledger.errors.append(f"{operation.__name__}: {exc!r}")

    def _wants_jobs(self) -> bool:
        if self.inserted_all:
            return False
        try:
            return Job.objects.exclude(state__in=FINISHED_STATES).count() < self.backlog
        except FAULT_ERRORS:
            connection.close()
            return False

    def _pick(self, most: int = 5) -> list[int]:
        return self.rng.sample(self.live, min(len(self.live), self.rng.randint(1, most)))

    def _insert(self) -> None:
        numbers = range(self.next_n, min(self.next_n + INSERT_BATCH, self.total))
        self.next_n = numbers.stop
        jobs = [
            ChaosJob.new(
                job_args(self.rng, n),
                queue=self.rng.choice(QUEUES),
                priority=self.rng.randint(0, 9),
                max_attempts=2 if self.rng.random() < 0.5 else 5,
            )
            for n in numbers
        ]
        try:
            django_oban.insert_all(jobs)
        except FAULT_ERRORS:
            self.ledger.maybe_inserted.update(numbers)
            raise
        ids = [job.pk for job in jobs]
        self.ledger.inserted.update(ids)
        self.live.extend(ids)
        self.ledger.operations["insert"] += len(ids)

    def _cancel(self) -> None:
        ids = self._pick()
        if self.rng.random() < 0.5:
            django_oban.cancel_many_jobs(ids)
        else:
            Job.objects.filter(pk__in=ids).cancel()
        self.ledger.operations["cancel"] += 1

    def _retry(self) -> None:
        """Retry jobs whose rows are locked first, so exactly those are known to be retried."""
        with transaction.atomic():
            ids = list(
                Job.objects.filter(pk__in=self._pick(3))
                .exclude(state__in=[JobState.AVAILABLE, JobState.EXECUTING])
                .select_for_update()
                .values_list("pk", flat=True)
            )
            now = time.time()
            for pk in ids:
                self.ledger.retried.setdefault(pk, []).append(now)
            count = django_oban.retry_many_jobs(ids)
        if count != len(ids):
            self.ledger.errors.append(f"retry of locked retryable jobs {ids} retried {count}")
        self.ledger.operations["retry"] += 1

    def _update(self) -> None:
        ids = self._pick()
        changes = self.rng.choice(
            [
                {"priority": self.rng.randint(0, 9)},
                {"tags": [self.rng.choice(["red", "green", "blue"])]},
                {"schedule_in": self.rng.choice([0, 1, 2])},
                {"queue": self.rng.choice(QUEUES)},
                lambda job: {"meta": {**job.meta, "touched": job.meta.get("touched", 0) + 1}},
            ]
        )
        if self.rng.random() < 0.5:
            django_oban.update_many_jobs(ids, changes)
        else:
            Job.objects.filter(pk__in=ids).update_many(changes)
        self.ledger.operations["update"] += 1

    def _refused_update(self) -> None:
        ids = self._pick()
        changes = self.rng.choice([{"priority": 10}, {"state": "completed"}, {"queue": " "}, {"max_attempts": 0}])
        try:
            django_oban.update_many_jobs(ids, changes)
        except ValidationError:
            self.ledger.operations["refused update"] += 1
        else:
            self.ledger.errors.append(f"update {changes} of {ids} was not refused")

    def _delete(self) -> None:
        """Delete jobs whose rows are locked first (executing ones excluded): exactly those go."""
        candidates = self._pick(3)
        try:
            with transaction.atomic():
                ids = list(
                    Job.objects.filter(pk__in=candidates)
                    .exclude(state=JobState.EXECUTING)
                    .select_for_update()
                    .values_list("pk", flat=True)
                )
                count = django_oban.delete_many_jobs(ids)
        except FAULT_ERRORS:
            self.ledger.maybe_deleted.update(candidates)
            self.live = [pk for pk in self.live if pk not in set(candidates)]
            raise
        if count != len(ids):
            self.ledger.errors.append(f"delete of locked non-executing jobs {ids} deleted {count}")
        self.ledger.deleted.update(ids)
        self.live = [pk for pk in self.live if pk not in set(ids)]
        self.ledger.operations["delete"] += 1
