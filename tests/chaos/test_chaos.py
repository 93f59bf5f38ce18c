"""The load and chaos suite: worker processes run jobs while a manager acts on them at random
and faults strike; afterwards every job must be accounted for and consistent.

Reduced by default (4 workers x 400 jobs, one fault of each kind at least). Full size::

    OBAN_CHAOS_JOBS=20000 .venv/bin/python runtests.py -m chaos tests/chaos -s

Knobs (environment): ``OBAN_CHAOS_JOBS``, ``OBAN_CHAOS_WORKERS``, ``OBAN_CHAOS_SEED``
(default: random, printed), ``OBAN_CHAOS_REPORT`` (a file to write the figures to, as JSON)
and ``OBAN_CHAOS_DEADLINE`` (seconds before the test fails with a stack dump).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import connection

from django_oban.models import Job, Node
from django_oban.states import FINISHED_STATES
from tests.pgcluster import ENV_DATA_DIR
from tests.properties.deadline import hard_deadline
from tests.properties.invariants import inconsistent_rows, stats_mismatches
from tests.runtime.helpers import wait_until

from .actor import Actor
from .executions import explain_repeats, failures_without_fault, read_executions
from .nodes import Nodes, executions_directory

pytestmark = [pytest.mark.chaos, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

JOBS = int(os.environ.get("OBAN_CHAOS_JOBS", "400"))
WORKERS = int(os.environ.get("OBAN_CHAOS_WORKERS", "4"))
QUEUES = "alpha=6,beta=4,gamma=2"
#: Low enough for rescue to happen within the run, high enough that a PostgreSQL restart
#: on a busy machine does not make live nodes look dead.
OBAN_SETTINGS = {"RESCUE_AFTER": 5, "HEARTBEAT_INTERVAL": 0.5, "POLL_INTERVAL": 0.5, "SHUTDOWN_GRACE": 15}
#: Unfinished jobs the actor keeps at most: enough to keep every slot busy.
BACKLOG = 40 * WORKERS
#: Seconds between faults, and at least how many (one of each kind in the reduced run).
FAULT_EVERY = (0.5, 1.5)
FAULTS_AT_LEAST = 5
#: Seconds the whole test may take before it fails with a stack dump (``OBAN_CHAOS_DEADLINE``):
#: the reduced run takes 15-30 s here.
DEADLINE = float(os.environ.get("OBAN_CHAOS_DEADLINE") or 240 + JOBS / 10)


def fault_kinds(nodes: Nodes, data_dir: str, rng: random.Random) -> dict[str, Callable[[], object]]:
    def victim() -> str:
        return rng.choice(sorted(nodes.live))

    return {
        "kill -9, same node name": lambda: nodes.kill(victim(), same_name=True),
        "kill -9, new node name": lambda: nodes.kill(victim(), same_name=False),
        "SIGTERM and restart": lambda: nodes.terminate(victim()),
        "PostgreSQL restart": lambda: nodes.restart_postgres(data_dir),
        "pg_terminate_backend": lambda: nodes.drop_connections(victim()),
    }


def inject_faults(nodes: Nodes, actor: Actor, data_dir: str, rng: random.Random) -> Counter[str]:
    """Inject faults in shuffled rounds of every kind until the actor has inserted every job."""
    kinds = fault_kinds(nodes, data_dir, rng)
    injected: Counter[str] = Counter()
    while not actor.inserted_all or sum(injected.values()) < FAULTS_AT_LEAST:
        for name in rng.sample(sorted(kinds), len(kinds)):
            time.sleep(rng.uniform(*FAULT_EVERY))
            kinds[name]()
            injected[name] += 1
            assert actor.is_alive(), "the actor thread died"
            if actor.inserted_all and sum(injected.values()) >= FAULTS_AT_LEAST:
                break
    return injected


def worker_sessions() -> list[tuple[str, str, str]]:
    """Sessions of worker processes still open on the test database (they close theirs on exit)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT application_name, state, query FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name LIKE 'oban-chaos-%%'"
        )
        return cursor.fetchall()


def end_other_sessions() -> None:
    """End the sessions this process leaked (Django can drop a connection it lost in a fault
    without closing the socket) so that the test database can be dropped."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


def unfinished() -> int:
    return Job.objects.exclude(state__in=FINISHED_STATES).count()


def test_jobs_survive_load_faults_and_a_meddling_manager(tmp_path: Path) -> None:
    data_dir = os.environ.get(ENV_DATA_DIR)
    if not data_dir:
        pytest.skip(f"restarts PostgreSQL: needs the throw-away cluster of runtests.py ({ENV_DATA_DIR})")
    with hard_deadline(DEADLINE, f"the chaos run ({JOBS} jobs)"):
        run_chaos(tmp_path, data_dir)


def run_chaos(tmp_path: Path, data_dir: str) -> None:
    """Start the workers and the actor, inject faults, drain, stop; then check every job."""
    seed = int(os.environ.get("OBAN_CHAOS_SEED") or random.randrange(2**32))
    rng = random.Random(seed)
    directory = executions_directory(tmp_path)
    nodes = Nodes(QUEUES, directory, OBAN_SETTINGS)
    stop_actor = threading.Event()
    actor = Actor(JOBS, BACKLOG, seed, stop_actor)
    began = time.monotonic()
    try:
        for process in [nodes.start(f"node-{n}", wait=False) for n in range(WORKERS)]:
            nodes.wait_ready(process)
        wait_until(lambda: Node.objects.count() == WORKERS, timeout=60, interval=0.1)
        actor.start()
        injected = inject_faults(nodes, actor, data_dir, rng)
        stop_actor.set()
        actor.join(60)
        faults_over = time.monotonic()
        connection.close()
        wait_until(lambda: unfinished() == 0, timeout=max(120, JOBS / 20), interval=0.5)
        drained = time.monotonic()
    finally:
        stop_actor.set()
        statuses = nodes.stop_all()
        nodes.kill_all()
    try:
        wait_until(lambda: not worker_sessions(), timeout=30, interval=0.1)
    except AssertionError:
        raise AssertionError(f"sessions of stopped workers left open: {worker_sessions()}") from None
    finally:
        end_other_sessions()
    ledger = actor.ledger
    rows = list(Job.objects.all())
    by_job = read_executions(directory)
    repeats = explain_repeats(by_job, nodes.faults, ledger.retried)
    executions = sum(len(runs) for runs in by_job.values())
    figures = {
        "seed": seed,
        "workers": WORKERS,
        "jobs inserted": len(ledger.inserted),
        "jobs deleted by the actor": len(ledger.deleted),
        "final states": dict(Counter(job.state for job in rows)),
        "executions": executions,
        "jobs run more than once": sum(1 for runs in by_job.values() if len(runs) > 1),
        "runs after the first, by reason": dict(repeats.reasons),
        "overlapping runs of one job": len(repeats.overlapping),
        "faults": dict(injected),
        "actor operations": dict(ledger.operations),
        "seconds under faults": round(faults_over - began, 1),
        "seconds to drain after the faults": round(drained - faults_over, 1),
    }
    print(json.dumps(figures, indent=2))
    details = {**figures, "fault times": [vars(fault) for fault in nodes.faults], "overlapping": repeats.overlapping}
    (directory / "report.json").write_text(json.dumps(details, indent=2))
    if os.environ.get("OBAN_CHAOS_REPORT"):
        Path(os.environ["OBAN_CHAOS_REPORT"]).write_text(json.dumps(details, indent=2))
    context = f"(seed {seed}; worker output, executions and report.json in {directory})"

    assert ledger.errors == [], context
    assert nodes.unexpected_output() == [], context
    assert [(p.output.name, status) for p, status in statuses if status != 0] == [], context
    present = {job.pk for job in rows}
    maybe_inserted = {job.pk for job in rows if job.args.get("n") in ledger.maybe_inserted}
    assert ledger.inserted - present - ledger.deleted - ledger.maybe_deleted == set(), f"jobs lost {context}"
    assert present & ledger.deleted == set(), f"deleted jobs came back {context}"
    assert present - ledger.inserted - maybe_inserted == set(), f"jobs nobody inserted {context}"
    assert inconsistent_rows(rows) == {}, context
    assert stats_mismatches(rows) == {}, context
    completed_runs = {job for job, runs in by_job.items() if any(run.outcome == "completed" for run in runs)}
    assert {job.pk for job in rows if job.state == "completed"} - completed_runs == set(), f"never ran {context}"
    assert repeats.unexplained == [], context
    assert failures_without_fault(by_job, nodes.faults) == [], f"jobs handed broken connections {context}"
