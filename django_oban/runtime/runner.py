"""The worker runtime: producers per queue, job threads, batched acks, notifier, housekeeping."""

from __future__ import annotations

import logging
import queue as queue_module
import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import connections

from ..conf import oban_settings
from ..models import Job
from ..notify import AVAILABLE_CHANNEL, CANCELLED_CHANNEL
from . import database, nodes
from .execution import Outcome, execute, set_cancelled
from .health import RECONNECT_DELAY, JobConnections, Reconnection
from .health import close_connection as _close_connection

logger = logging.getLogger("django_oban.worker")

#: Seconds a producer waits for more of its running jobs to finish before acknowledging
#: and claiming for fewer than half of its slots, so that both come in batches.
LINGER = 0.002
#: Seconds without a heartbeat after which the leader deletes a node's row (crashed nodes
#: never remove their own): a day, or ten times ``RESCUE_AFTER`` if that is longer.
NODE_FORGET_AFTER = 24 * 3600.0
#: Seconds after the shutdown grace period during which writing outcomes is still retried.
ACK_RETRY_AFTER_GRACE = 30.0
#: Least seconds between the starts of two prunes (each on its own thread, by the leader).
PRUNE_INTERVAL = 60.0
#: Seconds a stopping node waits for a prune still running before it exits regardless.
PRUNE_JOIN_TIMEOUT = 5.0


def _resilient(stop: threading.Event, what: str, step: Callable[[], None]) -> None:
    """Run ``step`` until ``stop``; on a database error reconnect with backoff (see ``Reconnection``)."""
    reconnection = Reconnection(what)
    while not stop.is_set():
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - a worker must outlive database outages
            stop.wait(reconnection.failed(exc))
        else:
            reconnection.succeeded()


class Producer:
    """Runs the jobs of one queue on its own threads, at most ``limit`` of them at a time.

    One thread (the producer) talks to the database: in a single statement it acknowledges
    the plain completions of finished jobs and claims jobs for the slots that frees; other
    outcomes are written just before, one locked row at a time. A slot is free only once
    its job's outcome is written, so this node never has more than ``limit`` rows of the
    queue ``executing``. The producer acts when jobs finish (at once when at least half the
    slots are free or nothing runs any more, else after ``LINGER``), when woken by a
    notification, and every ``poll_interval``.
    """

    def __init__(self, runner: Runner, queue: str, limit: int) -> None:
        self.runner = runner
        self.queue = queue
        self.limit = limit
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
        #: Claim for fewer free slots than this only after ``LINGER`` or once nothing runs.
        self.batch = max(1, limit // 2)
        self.threads = [
            threading.Thread(target=self._work, name=f"oban-{queue}-{n}", daemon=True) for n in range(limit)
        ]
        self.thread = threading.Thread(target=self._produce, name=f"oban-producer-{queue}", daemon=True)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()
        self.thread.start()

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
            _close_connection()

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
            free = self.limit - self.held + len(outcomes)
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
            _close_connection()

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
        forget_nodes_after: float | None = None,
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
        self.forget_nodes_after = (
            max(NODE_FORGET_AFTER, 10 * self.rescue_after) if forget_nodes_after is None else forget_nodes_after
        )
        self.producers = {name: Producer(self, name, limit) for name, limit in self.queues.items()}
        self.running: dict[int, Job] = {}
        self.running_lock = threading.Lock()
        self.ready = threading.Event()
        #: Set once every producer has finished (after ``stopping`` and the grace period).
        self.halted = threading.Event()
        self.is_leader = False
        #: This process's run of the node, registered by ``run()``.
        self.node_run: nodes.NodeRun | None = None
        #: The thread of the prune in progress or last run, if any.
        self.pruner: threading.Thread | None = None
        self._deadline: float | None = None
        self._deadline_lock = threading.Lock()

    # -- job bookkeeping ----------------------------------------------------------

    def track(self, job: Job) -> None:
        with self.running_lock:
            self.running[job.pk] = job

    def untrack(self, job: Job) -> None:
        with self.running_lock:
            self.running.pop(job.pk, None)

    def cancel_running(self, ids: list[int]) -> None:
        """Set the cancel flag of those of ``ids`` running here."""
        with self.running_lock:
            for pk in ids:
                job = self.running.get(pk)
                if job is not None:
                    set_cancelled(job)

    def wake(self, queue: str | None = None) -> None:
        """Make the producer of ``queue`` (or every producer) claim now."""
        for name, producer in self.producers.items():
            if queue is None or name == queue:
                producer.wake.set()

    def grace_deadline(self) -> float:
        """The monotonic time the shutdown grace period ends, fixed when first asked after stop."""
        with self._deadline_lock:
            if self._deadline is None:
                self._deadline = time.monotonic() + self.shutdown_grace
            return self._deadline

    # -- lifecycle ----------------------------------------------------------------

    def run(self) -> None:
        """Run until ``stop_event`` is set, then shut down gracefully."""
        logger.info("worker node %s starting, queues %s", self.node, self.queues)
        run = self.node_run = self._register()
        if run is None:
            self.halted.set()
            return
        housekeeper = threading.Thread(target=self._housekeep, args=(run,), name="oban-housekeeper", daemon=True)
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
        self._shutdown(housekeeper, notifier)

    def _register(self) -> nodes.NodeRun | None:
        """Register this run of the node, retrying through database errors; None if stopped first."""
        while not self.stopping.is_set():
            try:
                return nodes.register(self.node)
            except Exception:  # noqa: BLE001 - a worker must outlive database outages
                logger.warning("registering node %s failed; retrying", self.node, exc_info=True)
                self.stopping.wait(RECONNECT_DELAY)
            finally:
                _close_connection()
        return None

    def _shutdown(self, *others: threading.Thread | None) -> None:
        logger.info("worker node %s stopping: waiting up to %ss for running jobs", self.node, self.shutdown_grace)
        deadline = self.grace_deadline()
        self.wake()
        # Each producer returns once its jobs are finished and written, or at the deadline
        # with the outcomes of those finished written (retried for ACK_RETRY_AFTER_GRACE).
        for producer in self.producers.values():
            producer.thread.join(max(deadline - time.monotonic(), 0) + ACK_RETRY_AFTER_GRACE + 5)
        idle = all(not producer.running for producer in self.producers.values())
        if idle:
            for producer in self.producers.values():
                producer.stop_threads()
        self.halted.set()
        for thread in others:
            if thread is not None:
                thread.join(5)
        if not idle:
            with self.running_lock:
                left = sorted(self.running)
            logger.warning("worker node %s left running jobs %s for rescue", self.node, left)
        logger.info("worker node %s stopped", self.node)

    # -- notifications ----------------------------------------------------------------

    def _listen(self) -> None:
        """LISTEN on a dedicated connection; wake producers and set cancel flags. Reconnects."""
        import psycopg

        reconnection = Reconnection("listening for notifications")
        # Until halted, not stopping: cancellations still reach jobs running in the grace period.
        while not self.halted.is_set():
            try:
                with psycopg.connect(**_connection_kwargs(), autocommit=True) as conn:
                    conn.execute(f"LISTEN {AVAILABLE_CHANNEL}")
                    conn.execute(f"LISTEN {CANCELLED_CHANNEL}")
                    reconnection.succeeded()
                    self.wake()  # catch up on anything missed while not listening
                    while not self.halted.is_set():
                        for notify in conn.notifies(timeout=0.5):
                            self._on_notify(notify.channel, notify.payload)
            except Exception as exc:  # noqa: BLE001 - reconnect on any connection failure
                self.halted.wait(reconnection.failed(exc))

    def _on_notify(self, channel: str, payload: str) -> None:
        if channel == AVAILABLE_CHANNEL:
            self.wake(payload)
        elif channel == CANCELLED_CHANNEL:
            self.cancel_running([int(pk) for pk in payload.split(",") if pk.strip().isdigit()])

    # -- housekeeping -----------------------------------------------------------------

    def _housekeep(self, run: nodes.NodeRun) -> None:
        """Heartbeat every interval until halted; as leader, while not stopping, also
        stage and rescue, and start a prune (at most every ``PRUNE_INTERVAL``)."""
        last_prune: float | None = None

        def tick() -> None:
            nonlocal last_prune
            nodes.heartbeat(run)
            self.is_leader = nodes.try_lead()
            if self.is_leader and not self.stopping.is_set():
                database.stage()
                nodes.rescue(self.rescue_after)
                interval = max(self.heartbeat_interval, PRUNE_INTERVAL)
                due = last_prune is None or time.monotonic() - last_prune >= interval
                if due and not (self.pruner and self.pruner.is_alive()):
                    self.pruner = threading.Thread(target=self._prune, name="oban-pruner", daemon=True)
                    self.pruner.start()
                    last_prune = time.monotonic()
            self.halted.wait(self.heartbeat_interval)

        # Heartbeats go on during the grace period so that running jobs are not rescued.
        _resilient(self.halted, "housekeeping", tick)
        try:
            nodes.forget(run)
        except Exception:  # noqa: BLE001 - the heartbeat simply expires
            logger.debug("could not remove node %s", self.node, exc_info=True)
        _close_connection()
        if self.pruner:
            self.pruner.join(PRUNE_JOIN_TIMEOUT)

    def _prune(self) -> None:
        """Delete finished jobs older than ``prune_after`` and long-dead nodes' rows.

        On a thread and connection of its own, so that a long prune never delays the
        heartbeat, staging or rescue.
        """
        try:
            Job.objects.prune(self.prune_after)
            nodes.forget_dead(self.forget_nodes_after)
        except Exception:  # noqa: BLE001 - the next prune tries again
            logger.warning("pruning failed", exc_info=True)
        finally:
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
