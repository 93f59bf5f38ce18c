"""Django tasks used by the backend's tests."""

from __future__ import annotations

import time
from pathlib import Path

from django_oban import Cancel
from django_oban.backends import current_job

try:
    from django.tasks import task
except ImportError:  # Django < 6.0: the backport
    from django_tasks import task

#: Calls of ``record_call`` in this process, in order.
CALLS: list[str] = []


@task()
def add(a: int, b: int) -> int:
    return a + b


@task()
def echo(*args: object, **kwargs: object) -> dict[str, object]:
    return {"args": list(args), "kwargs": kwargs}


@task()
def record_call(name: str) -> str:
    CALLS.append(name)
    return name


@task()
def fail(message: str) -> None:
    raise ValueError(message)


@task()
def fail_until_attempt(succeed_on: int) -> int:
    job = current_job()
    assert job is not None
    if job.attempt < succeed_on:
        raise ConnectionError(f"attempt {job.attempt} failed")
    return job.attempt


@task()
async def async_multiply(a: int, b: int) -> int:
    return a * b


@task(takes_context=True)
def context_attempt(context: object, label: str) -> dict[str, object]:
    return {"label": label, "attempt": context.attempt, "id": context.task_result.id}  # type: ignore[attr-defined]


@task()
def unstorable() -> object:
    return {1, 2}


@task()
def wait_for_cancel(started: str, seconds: float) -> str:
    """Writes ``started``, then waits up to ``seconds`` for its job to be cancelled (then
    writes ``started + ".cancelled"``)."""
    Path(started).write_text("started")
    job = current_job()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if job is not None and job.cancelled():
            Path(started + ".cancelled").write_text("cancelled")
            return "saw the cancel"
        time.sleep(0.02)
    return "ran to the end"


@task()
def give_up(reason: str) -> Cancel:
    return Cancel(reason)


@task()
def sleep_in_steps(seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.01)
    return "slept"
