"""The worker runtime: producers per queue, job threads, batched acks, notifier, housekeeping."""

from __future__ import annotations

import logging
import queue as queue_module
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from django.db import connection, connections

from ..conf import oban_settings
from ..models import Job
from ..notify import AVAILABLE_CHANNEL, CANCELLED_CHANNEL
from . import database
from .execution import Outcome, execute

logger = logging.getLogger("django_oban.worker")

#: Seconds to wait before retrying after a database error.
RECONNECT_DELAY = 0.5
#: Most outcomes written in one acknowledgement round.
ACK_BATCH = 1000


def _close_connection() -> None:
    """Drop this thread's database connection so the next query reconnects."""
    try:
        connection.close()
    except Exception:  # noqa: BLE001 - the connection is already broken
        logger.debug("closing a broken connection failed", exc_info=True)


def _resilient(stop: threading.Event, what: str, step: Callable[[], None]) -> None:
    """Run ``step`` until ``stop``; on a database error reconnect after a short delay."""
    while not stop.is_set():
        try:
            step()
        except Exception:  # noqa: BLE001 - a worker must outlive database outages
            logger.warning("%s failed; retrying", what, exc_info=True)
            _close_connection()
            stop.wait(RECONNECT_DELAY)


class Producer:
    """Claims jobs of one queue up to its concurrency limit and runs them on its own threads."""

    def __init__(self, runner: Runner, queue: str, limit: int) -> None:
        self.runner = runner
        self.queue = queue
        self.limit = limit
        self.wake = threading.Event()
        self.jobs: queue_module.SimpleQueue[Job | None] = queue_module.SimpleQueue()
        self.busy = 0
        # Claim again once this many threads are free, so claims come in batches.
        self.batch = max(1, limit // 2)
        self.lock = threading.Lock()
        self.idle = threading.Condition(self.lock)
        self.threads = [
            threading.Thread(target=self._work, name=f"oban-{queue}-{n}", daemon=True) for n in range(limit)
        ]
        self.thread = threading.Thread(target=self._produce, name=f"oban-producer-{queue}", daemon=True)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()
        self.thread.start()

    def _produce(self) -> None:
        stop = self.runner.stopping
        _resilient(stop, f"claiming from {self.queue!r}", self._claim_once)
        _close_connection()

    def _claim_once(self) -> None:
        stop = self.runner.stopping
        self.wake.wait(self.runner.poll_interval)
        self.wake.clear()
        if stop.is_set():
            return
        with self.lock:
            free = self.limit - self.busy
        if free <= 0:
            return
        jobs = database.claim(self.queue, free, self.runner.node)
        with self.lock:
            self.busy += len(jobs)
        for job in jobs:
            self.runner.track(job)
            self.jobs.put(job)
        if len(jobs) == free:
            self.wake.set()  # there may be more: claim again as soon as a thread frees up

    def _work(self) -> None:
        try:
            while (job := self.jobs.get()) is not None:
                outcome = execute(job)
                self.runner.finished(outcome)
                with self.lock:
                    self.busy -= 1
                    self.idle.notify_all()
                    claim_now = self.limit - self.busy >= self.batch or not self.busy
                if claim_now:
                    self.wake.set()
        finally:
            _close_connection()

    def wait_idle(self, deadline: float) -> bool:
        """Wait until no job of this queue runs, or ``deadline`` (monotonic); whether idle."""
        with self.lock:
            while self.busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.idle.wait(remaining)
        return True

    def stop_threads(self) -> None:
        for _ in self.threads:
            self.jobs.put(None)


class Runner:
    """A worker node: runs the jobs of ``queues`` (name -> concurrency) until ``stop_event`` is set.

    ``run()`` blocks; on stop it claims nothing more, gives running jobs ``shutdown_grace``
    seconds, writes every finished outcome and returns. Jobs still running are left
    executing for another node's rescue.
    """

    def __init__(
        self,
        queues: dict[str, int] | None = None,
        node: str | None = None,
        stop_event: threading.Event | None = None,
        *,
        poll_interval: float | None = None,
        heartbeat_interval: float | None = None,
        shutdown_grace: float | None = None,
        rescue_after: float | None = None,
        prune_after: float | None = None,
    ) -> None:
        self.queues = oban_settings.QUEUES if queues is None else dict(queues)
        self.node = node or oban_settings.NODE
        self.stopping = stop_event or threading.Event()
        self.poll_interval = oban_settings.POLL_INTERVAL if poll_interval is None else poll_interval
        self.heartbeat_interval = (
            oban_settings.HEARTBEAT_INTERVAL if heartbeat_interval is None else heartbeat_interval
        )
        self.shutdown_grace = oban_settings.SHUTDOWN_GRACE if shutdown_grace is None else shutdown_grace
        self.rescue_after = oban_settings.RESCUE_AFTER if rescue_after is None else rescue_after
        self.prune_after = oban_settings.PRUNE_AFTER if prune_after is None else prune_after
        self.producers = {name: Producer(self, name, limit) for name, limit in self.queues.items()}
        self.running: dict[int, Job] = {}
        self.running_lock = threading.Lock()
        self.outcomes: queue_module.SimpleQueue[Outcome | None] = queue_module.SimpleQueue()
        self.ready = threading.Event()
        self.is_leader = False

    # -- job bookkeeping ----------------------------------------------------------

    def track(self, job: Job) -> None:
        job._cancel_event = threading.Event()
        with self.running_lock:
            self.running[job.pk] = job

    def finished(self, outcome: Outcome) -> None:
        with self.running_lock:
            self.running.pop(outcome.job.pk, None)
        self.outcomes.put(outcome)

    def cancel_running(self, ids: list[int]) -> None:
        """Set the cancel flag of those of ``ids`` running here."""
        with self.running_lock:
            for pk in ids:
                job = self.running.get(pk)
                if job is not None and job._cancel_event is not None:
                    job._cancel_event.set()

    def wake(self, queue: str | None = None) -> None:
        """Make the producer of ``queue`` (or every producer) claim now."""
        for name, producer in self.producers.items():
            if queue is None or name == queue:
                producer.wake.set()

    # -- lifecycle ----------------------------------------------------------------

    def run(self) -> None:
        """Run until ``stop_event`` is set, then shut down gracefully."""
        logger.info("worker node %s starting, queues %s", self.node, self.queues)
        acker = threading.Thread(target=self._acknowledge, name="oban-acker", daemon=True)
        housekeeper = threading.Thread(target=self._housekeep, name="oban-housekeeper", daemon=True)
        acker.start()
        housekeeper.start()
        notifier = None
        if database.is_postgres():
            notifier = threading.Thread(target=self._listen, name="oban-notifier", daemon=True)
            notifier.start()
        for producer in self.producers.values():
            producer.start()
        self.ready.set()
        while not self.stopping.wait(0.5):  # a timeout keeps the main thread responsive to signals
            pass
        self._shutdown(acker, housekeeper, notifier)

    def _shutdown(self, acker: threading.Thread, *others: threading.Thread | None) -> None:
        logger.info("worker node %s stopping: waiting up to %ss for running jobs", self.node, self.shutdown_grace)
        self.wake()
        deadline = time.monotonic() + self.shutdown_grace
        idle = all(producer.wait_idle(deadline) for producer in self.producers.values())
        for producer in self.producers.values():
            producer.thread.join(max(deadline - time.monotonic(), 1))
            if idle:
                producer.stop_threads()
        self.outcomes.put(None)
        acker.join(30)
        for thread in others:
            if thread is not None:
                thread.join(5)
        if not idle:
            with self.running_lock:
                left = sorted(self.running)
            logger.warning("worker node %s left running jobs %s for rescue", self.node, left)
        logger.info("worker node %s stopped", self.node)

    # -- acknowledgements -----------------------------------------------------------

    def _acknowledge(self) -> None:
        """Write outcomes in batches until the shutdown sentinel; retry batches on errors."""
        pending: list[Outcome] = []
        done = False
        try:
            while not done or pending:
                if not done:
                    done = self._collect(pending)
                try:
                    database.acknowledge(pending)
                    pending = []
                except Exception:  # noqa: BLE001 - keep the outcomes and retry after reconnecting
                    logger.warning("writing %d job outcomes failed; retrying", len(pending), exc_info=True)
                    _close_connection()
                    time.sleep(RECONNECT_DELAY)
        finally:
            _close_connection()

    def _collect(self, pending: list[Outcome]) -> bool:
        """Add the next outcomes to ``pending`` (blocking for the first); whether shutdown came."""
        timeout = None if not pending else 0
        try:
            first = self.outcomes.get(timeout=timeout) if timeout is None else self.outcomes.get_nowait()
        except queue_module.Empty:
            return False
        for outcome in self._drain(first):
            if outcome is None:
                return True
            pending.append(outcome)
        return False

    def _drain(self, first: Outcome | None) -> Iterator[Outcome | None]:
        yield first
        for _ in range(ACK_BATCH):
            try:
                yield self.outcomes.get_nowait()
            except queue_module.Empty:
                return

    # -- notifications ----------------------------------------------------------------

    def _listen(self) -> None:
        """LISTEN on a dedicated connection; wake producers and set cancel flags. Reconnects."""
        import psycopg

        while not self.stopping.is_set():
            try:
                with psycopg.connect(**_connection_kwargs(), autocommit=True) as conn:
                    conn.execute(f"LISTEN {AVAILABLE_CHANNEL}")
                    conn.execute(f"LISTEN {CANCELLED_CHANNEL}")
                    self.wake()  # catch up on anything missed while not listening
                    while not self.stopping.is_set():
                        for notify in conn.notifies(timeout=0.5):
                            self._on_notify(notify.channel, notify.payload)
            except Exception:  # noqa: BLE001 - reconnect on any connection failure
                logger.warning("notification listener lost its connection; reconnecting", exc_info=True)
                self.stopping.wait(RECONNECT_DELAY)

    def _on_notify(self, channel: str, payload: str) -> None:
        if channel == AVAILABLE_CHANNEL:
            self.wake(payload)
        elif channel == CANCELLED_CHANNEL:
            self.cancel_running([int(pk) for pk in payload.split(",") if pk])

    # -- housekeeping -----------------------------------------------------------------

    def _housekeep(self) -> None:
        """Heartbeat every interval; as leader also stage, rescue and prune."""
        last_prune = 0.0

        def tick() -> None:
            nonlocal last_prune
            database.heartbeat(self.node)
            self.is_leader = database.try_lead()
            if self.is_leader:
                database.stage()
                database.rescue(self.rescue_after)
                if time.monotonic() - last_prune >= max(self.heartbeat_interval, 60):
                    Job.objects.prune(self.prune_after)
                    last_prune = time.monotonic()
            self.stopping.wait(self.heartbeat_interval)

        _resilient(self.stopping, "housekeeping", tick)
        try:
            database.forget_node(self.node)
        except Exception:  # noqa: BLE001 - the heartbeat simply expires
            logger.debug("could not remove node %s", self.node, exc_info=True)
        _close_connection()


def _connection_kwargs(using: str = "default") -> dict[str, Any]:
    """psycopg.connect() arguments for the Django database ``using``."""
    params = connections[using].get_connection_params()
    return {key: value for key, value in params.items() if key not in ("cursor_factory", "context", "prepare_threshold")}


def run_worker(
    queues: dict[str, int] | None = None, node: str | None = None, stop_event: threading.Event | None = None
) -> None:
    """Run a worker node in this thread until ``stop_event`` is set (see ``Runner``)."""
    Runner(queues, node, stop_event).run()
