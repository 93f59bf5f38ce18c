"""Reading the executions the chaos jobs logged, and explaining every job that ran again."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from .jobs import PLANNED_FAILURE
from .nodes import Fault

#: Outcomes after which a job is meant to run again.
RUNS_AGAIN = {"failed", "snoozed"}


@dataclass
class Execution:
    """One run of a job in one process: when it started and, unless cut short, how it ended."""

    job: int
    attempt: int
    pid: int
    node: str
    started: float
    ended: float | None = None
    outcome: str | None = None
    error: str | None = None


def read_executions(directory: Path) -> dict[int, list[Execution]]:
    """Every execution logged in ``directory``, by job id, in the order they started."""
    by_job: dict[int, list[Execution]] = {}
    for path in directory.glob("*.jsonl"):
        running: dict[int, Execution] = {}
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            if entry["event"] == "start":
                execution = Execution(entry["id"], entry["attempt"], entry["pid"], entry["node"], entry["at"])
                running[entry["id"]] = execution
                by_job.setdefault(entry["id"], []).append(execution)
            else:
                execution = running.pop(entry["id"])
                execution.ended, execution.outcome, execution.error = entry["at"], entry["outcome"], entry.get("error")
    for executions in by_job.values():
        executions.sort(key=lambda execution: execution.started)
    return by_job


@dataclass
class Repeats:
    """Why each job that ran more than once did so; ``unexplained`` must stay empty."""

    reasons: Counter[str]
    overlapping: list[str]
    unexplained: list[str]


def explain_repeats(
    by_job: dict[int, list[Execution]], faults: list[Fault], retried: dict[int, list[float]]
) -> Repeats:
    """For each execution after a job's first, the reason it is allowed.

    In order: the previous run ended in a failure or snooze; the actor retried the job
    since the previous run started; or a fault struck the previous run's process (``kill
    -9``, a PostgreSQL restart, its sessions terminated) between the starts of the two.
    A previous run that never logged its end must have been ``kill -9``-ed.
    """
    reasons: Counter[str] = Counter()
    overlapping: list[str] = []
    unexplained: list[str] = []
    for job, executions in by_job.items():
        for previous, current in pairwise(executions):
            reason = _reason(previous, current, faults, retried.get(job, []))
            if reason is None:
                unexplained.append(_describe(previous, current))
            else:
                reasons[reason] += 1
            if _overlap(previous, current, faults):
                overlapping.append(f"{_describe(previous, current)} ({reason or 'unexplained'})")
    return Repeats(reasons, overlapping, unexplained)


def failures_without_fault(by_job: dict[int, list[Execution]], faults: list[Fault]) -> list[str]:
    """Runs that failed for a reason other than their plan with no fault striking them meanwhile.

    A job that finds its connection dead although nothing happened while it ran was handed
    a connection broken by an earlier fault.
    """
    return [
        f"job {execution.job} attempt {execution.attempt} on pid {execution.pid}: {execution.error}"
        for executions in by_job.values()
        for execution in executions
        if execution.outcome == "failed"
        and PLANNED_FAILURE not in (execution.error or "")
        and not any(fault.hits(execution.pid, execution.started, execution.ended or execution.started)
                    for fault in faults)
    ]


def _reason(previous: Execution, current: Execution, faults: list[Fault], retried: list[float]) -> str | None:
    if previous.outcome in RUNS_AGAIN:
        return f"previous run {previous.outcome}"
    if any(previous.started < at < current.started for at in retried):
        return "retried by the actor"
    struck = [fault.kind for fault in faults if fault.hits(previous.pid, previous.started, current.started)]
    if previous.ended is None:
        return "kill -9" if "kill -9" in struck else None
    return f"previous run's outcome lost to a {struck[0]}" if struck else None


def _overlap(previous: Execution, current: Execution, faults: list[Fault]) -> bool:
    """Whether ``current`` started while ``previous`` still ran (or its process still lived)."""
    if previous.ended is not None:
        return previous.ended > current.started
    return any(
        fault.kind == "kill -9" and fault.pid == previous.pid and fault.started > current.started for fault in faults
    )


def _describe(previous: Execution, current: Execution) -> str:
    return (
        f"job {current.job}: run of attempt {previous.attempt} on {previous.node} (pid {previous.pid}) "
        f"{previous.started:.3f}-{previous.ended if previous.ended is None else round(previous.ended, 3)} "
        f"{previous.outcome}, then attempt {current.attempt} on {current.node} (pid {current.pid}) "
        f"at {current.started:.3f}"
    )
