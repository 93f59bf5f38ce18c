"""The worker node: its producers, notifier and housekeeping, from start to graceful stop."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ..conf import oban_settings
from ..cron import slots
from ..cron.entries import configured_entries
from ..models import Job
from . import control, database, nodes, notifier
from .execution import set_cancelled
from .health import RECONNECT_DELAY, Reconnection, close_connection
from .producer import ACK_RETRY_AFTER_GRACE, Producer

logger = logging.getLogger("django_oban.worker")

#: Seconds without a heartbeat after which the leader deletes a node's row (crashed nodes
#: never remove their own): a day, or ten times ``RESCUE_AFTER`` if that is longer.
NODE_FORGET_AFTER = 24 * 3600.0
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
        #: ``OBAN["CRON"]``: checked here (``CronConfigError``) so that a bad entry stops the start.
        self.cron = slots.CronScheduler(configured_entries())
        self.running: dict[int, Job] = {}
        #: Set when the queue controls changed (a notification): the housekeeper applies them now.
        self.controls_changed = threading.Event()
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

    def queues_changed(self) -> None:
        """Make the housekeeper apply the queue controls now."""
        self.controls_changed.set()

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
        for producer in self.producers.values():
            producer.start()  # claiming nothing until the housekeeper has applied the queue controls
        housekeeper = threading.Thread(target=self._housekeep, args=(run,), name="oban-housekeeper", daemon=True)
        housekeeper.start()
        listener = None
        if database.is_postgres():
            listener = threading.Thread(target=notifier.listen, args=(self,), name="oban-notifier", daemon=True)
            listener.start()
        self.ready.set()
        while not self.stopping.wait(0.5):  # a timeout keeps the main thread responsive to signals
            pass
        self._shutdown(housekeeper, listener)

    def _register(self) -> nodes.NodeRun | None:
        """Register this run of the node, retrying through database errors; None if stopped first."""
        while not self.stopping.is_set():
            try:
                return nodes.register(self.node)
            except Exception:
                logger.warning("registering node %s failed; retrying", self.node, exc_info=True)
                self.stopping.wait(RECONNECT_DELAY)
            finally:
                close_connection()
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
        self.controls_changed.set()  # the housekeeper's wait
        for thread in others:
            if thread is not None:
                thread.join(5)
        if not idle:
            with self.running_lock:
                left = sorted(self.running)
            logger.warning("worker node %s left running jobs %s for rescue", self.node, left)
        logger.info("worker node %s stopped", self.node)

    # -- housekeeping -----------------------------------------------------------------

    def _housekeep(self, run: nodes.NodeRun) -> None:
        """Every interval until halted, and at once when the queue controls change: apply them,
        heartbeat (with the node's view of its queues); insert the ``@reboot`` cron jobs once; as
        leader, while not stopping, also stage, rescue, insert due cron jobs, and start a
        prune (at most every ``PRUNE_INTERVAL``)."""
        last_prune: float | None = None

        def tick() -> None:
            nonlocal last_prune
            self.controls_changed.clear()
            if not self.stopping.is_set():  # no thread may start once the job threads are told to stop
                control.apply(self)
            nodes.heartbeat(run, control.view(self))
            self.cron.reboot(run.id)
            self.is_leader = nodes.try_lead()
            if self.is_leader and not self.stopping.is_set():
                database.stage()
                nodes.rescue(self.rescue_after)
                self.cron.tick()
                interval = max(self.heartbeat_interval, PRUNE_INTERVAL)
                due = last_prune is None or time.monotonic() - last_prune >= interval
                if due and not (self.pruner and self.pruner.is_alive()):
                    self.pruner = threading.Thread(target=self._prune, name="oban-pruner", daemon=True)
                    self.pruner.start()
                    last_prune = time.monotonic()
            self.controls_changed.wait(self.heartbeat_interval)  # also set once halted

        # Heartbeats go on during the grace period so that running jobs are not rescued.
        _resilient(self.halted, "housekeeping", tick)
        try:
            nodes.forget(run)
        except Exception:
            logger.debug("could not remove node %s", self.node, exc_info=True)
        close_connection()
        if self.pruner:
            self.pruner.join(PRUNE_JOIN_TIMEOUT)

    def _prune(self) -> None:
        """Delete finished jobs older than ``prune_after``, long-dead nodes' rows and old cron slots' rows.

        On a thread and connection of its own, so that a long prune never delays the
        heartbeat, staging or rescue.
        """
        try:
            Job.objects.prune(self.prune_after)
            nodes.forget_dead(self.forget_nodes_after)
            slots.prune()
        except Exception:
            logger.warning("pruning failed", exc_info=True)
        finally:
            close_connection()


def run_worker(
    queues: dict[str, int] | None = None, node: str | None = None, stop_event: threading.Event | None = None
) -> None:
    """Run a worker node in this thread until ``stop_event`` is set (see ``Runner``)."""
    Runner(queues, node, stop_event).run()
