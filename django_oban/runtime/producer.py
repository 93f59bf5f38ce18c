"""A queue's producer: claims and acknowledges in batches, and runs its jobs on its own threads."""

from __future__ import annotations

import logging
import queue as queue_module
import threading
import time
from typing import Protocol

from ..models import Job
from . import database
from .execution import Outcome, execute
from .health import JobConnections, Reconnection, close_connection

logger = logging.getLogger("django_oban.worker")

#: Seconds a producer waits for more of its running jobs to finish before acknowledging
#: and claiming for fewer than half of its slots, so that both come in batches.
LINGER = 0.002
#: Seconds after the shutdown grace period during which writing outcomes is still retried.
ACK_RETRY_AFTER_GRACE = 30.0


class Node(Protocol):
    """What a producer needs of the node it runs in (``Runner``)."""

    node: str
    stopping: threading.Event
    poll_interval: float

    def grace_deadline(self) -> float: ...

    def track(self, job: Job) -> None: ...

    def untrack(self, job: Job) -> None: ...


class Producer:
    """Runs the jobs of one queue on its own threads, at most ``limit`` of them at a time.

    One thread (the producer) talks to the database: in a single statement it acknowledges
    the plain completions of finished jobs and claims jobs for the slots that frees; other
    outcomes are written just before, one locked row at a time. A slot is free only once
    its job's outcome is written, so this node never has more than ``limit`` rows of the
    queue ``executing``. The producer acts when jobs finish (at once when at least half the
    slots are free or nothing runs any more, else after ``LINGER``), when woken by a
    notification, and every ``poll_interval``.

    ``control()`` pauses, resumes and scales it at runtime (see ``django_oban.queues``): paused,
    it claims nothing but still writes outcomes; below a lowered limit, it claims nothing until
    enough running jobs have finished. It claims nothing before the first ``control()``.
    """

    def __init__(self, runner: Node, queue: str, limit: int) -> None:
        self.runner = runner
        self.queue = queue
        #: The limit the node was started with (``--queues``): what ``control()`` falls back to.
        self.configured_limit = limit
        self.limit = limit
        #: ``None`` until the node has read the queue controls (claiming nothing meanwhile).
        self.paused: bool | None = None
        self.wake = threading.Event()
        self.jobs: queue_module.SimpleQueue[Job | None] = queue_module.SimpleQueue()
        self.lock = threading.Lock()
        #: Jobs claimed and not yet acknowledged: this node's executing rows of the queue.
        self.held = 0
        #: Of those, the jobs still running in a thread.
        self.running = 0
        #: Outcomes of finished jobs not yet taken for writing.
        self.finished: list[Outcome] = []
        #: Outcomes taken whose writing failed (producer thread only); written first next time.
        self.unwritten: list[Outcome] = []
        #: Ids of the jobs claimed and not yet acknowledged (producer thread only).
        self.claimed: set[int] = set()
        #: Whether a round failed: its claim may have committed with the rows never received.
        self.round_failed = False
        self.threads = self._job_threads(0, limit)
        self.thread = threading.Thread(target=self._produce, name=f"oban-producer-{queue}", daemon=True)

    @property
    def batch(self) -> int:
        """Claim for fewer free slots than this only after ``LINGER`` or once nothing runs."""
        return max(1, self.limit // 2)

    def _job_threads(self, first: int, end: int) -> list[threading.Thread]:
        """Job threads numbered ``first`` to ``end - 1`` (not started)."""
        return [
            threading.Thread(target=self._work, name=f"oban-{self.queue}-{n}", daemon=True) for n in range(first, end)
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()
        self.thread.start()

    def control(self, paused: bool, limit: int | None) -> None:
        """Pause or resume, and set the limit (``None``: the configured one); wake the producer on a change.

        Called once the producer has started. A higher limit starts the threads it lacks.
        """
        limit = self.configured_limit if limit is None else limit
        with self.lock:
            if (paused, limit) == (self.paused, self.limit):
                return
            self.paused, self.limit = paused, limit
            added = self._job_threads(len(self.threads), limit)
            self.threads += added
        for thread in added:
            thread.start()
        self.wake.set()

    # -- the producer thread ----------------------------------------------------------

    def _produce(self) -> None:
        """Acknowledge and claim until stopped and every outcome is written; reconnect on errors."""
        reconnection = Reconnection(f"acknowledging and claiming for queue {self.queue!r}")
        try:
            while True:
                try:
                    if not self._round():
                        return
                except Exception as exc:  # noqa: BLE001 - a worker must outlive database outages
                    self.round_failed = True
                    delay = reconnection.failed(exc)
                    if self.runner.stopping.is_set() and time.monotonic() > (
                        self.runner.grace_deadline() + ACK_RETRY_AFTER_GRACE
                    ):
                        logger.error("giving up writing %d job outcomes of %r", len(self.unwritten), self.queue)
                        return
                    time.sleep(delay)
                else:
                    reconnection.succeeded()
        finally:
            close_connection()

    def _round(self) -> bool:
        """Wait for something to do, then write outcomes and claim; whether to go on."""
        self._wait()
        stopping = self.runner.stopping.is_set()
        with self.lock:
            taken, self.finished = self.finished, []
            running = self.running
        outcomes = self.unwritten = self.unwritten + taken
        if stopping:
            if not outcomes and (not running or time.monotonic() >= self.runner.grace_deadline()):
                return False
            free = 0
        else:
            free = 0 if self.paused is not False else self.limit - self.held + len(outcomes)
        if not outcomes and free <= 0:
            return True
        if self.round_failed:
            database.release_lost_claims(self.queue, self.runner.node, self.claimed)
            self.round_failed = False
        plain = [outcome for outcome in outcomes if outcome.is_plain_completion]
        if len(plain) < len(outcomes):
            database.acknowledge([outcome for outcome in outcomes if not outcome.is_plain_completion])
        jobs = database.claim(self.queue, free, self.runner.node, completed=plain)
        self.unwritten = []
        self.claimed.difference_update(outcome.job.pk for outcome in outcomes)
        self.claimed.update(job.pk for job in jobs)
        with self.lock:
            self.held += len(jobs) - len(outcomes)
            self.running += len(jobs)
        for job in jobs:
            self.runner.track(job)
            self.jobs.put(job)
        return True

    def _wait(self) -> None:
        """Until woken or ``poll_interval``; linger when few slots are free and jobs still run."""
        runner = self.runner
        if self.unwritten:
            return  # retry writing them now (after the reconnection delay)
        timeout = runner.poll_interval
        if runner.stopping.is_set():
            timeout = min(timeout, max(runner.grace_deadline() - time.monotonic(), 0.0))
        self.wake.wait(timeout)
        self.wake.clear()
        if runner.stopping.is_set():
            return
        with self.lock:
            linger = self.running and self.finished and self.limit - self.held + len(self.finished) < self.batch
        if linger:
            self.wake.wait(LINGER)
            self.wake.clear()

    # -- job threads --------------------------------------------------------------------

    def _work(self) -> None:
        """Run jobs until told to stop, each like a request for its database connections."""
        job_connections = JobConnections()
        try:
            while (job := self.jobs.get()) is not None:
                job_connections.before_job()
                outcome = execute(job)
                job_connections.after_job()
                self.runner.untrack(job)
                with self.lock:
                    self.finished.append(outcome)
                    self.running -= 1
                    done = len(self.finished)
                    wake = done == 1 or not self.running or self.limit - self.held + done >= self.batch
                if wake:
                    self.wake.set()
        finally:
            close_connection()

    def stop_threads(self) -> None:
        with self.lock:
            threads = len(self.threads)
        for _ in range(threads):
            self.jobs.put(None)
