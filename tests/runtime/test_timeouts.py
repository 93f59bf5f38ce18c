"""The timeout watchdog under races: deadlines that pass just as calls return, on many threads."""

from __future__ import annotations

import random
import threading
import time

from django_oban.runtime.timeouts import JobTimeout, call_with_timeout

THREADS = 4
CALLS = 300


def busy(seconds: float) -> int:
    """Pure Python work for ``seconds`` (interruptible at every loop turn)."""
    end = time.perf_counter() + seconds
    turns = 0
    while time.perf_counter() < end:
        turns += 1
    return turns


def test_deadlines_racing_the_end_of_calls_never_wedge_the_watchdog_nor_fire_late() -> None:
    problems: list[str] = []
    outcomes = {"returned": 0, "timed out": 0}
    lock = threading.Lock()

    def run(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(CALLS):
            try:
                call_with_timeout(lambda: busy(rng.uniform(0.0005, 0.003)), rng.uniform(0.0005, 0.003), lambda: None)
                outcome = "returned"
            except JobTimeout:
                outcome = "timed out"
            except BaseException as exc:  # noqa: BLE001 - anything else is a bug
                problems.append(f"call raised {exc!r}")
                continue
            try:
                busy(0.0005)  # a JobTimeout arriving here would be one that fired late
            except BaseException as exc:  # noqa: BLE001
                problems.append(f"raised after the call: {exc!r}")
            with lock:
                outcomes[outcome] += 1

    threads = [threading.Thread(target=run, args=(seed,), daemon=True) for seed in range(THREADS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 120
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0))
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck (the watchdog's lock held?)"
    assert problems == []
    assert sum(outcomes.values()) == THREADS * CALLS
