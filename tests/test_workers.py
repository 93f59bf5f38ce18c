"""Worker defaults that the runtime relies on."""

from __future__ import annotations

from django_oban.workers import MAX_BACKOFF, Worker
from tests.runtime.jobs import Noop


def test_default_backoff_grows_with_the_attempt_and_is_capped() -> None:
    job = Noop.new()
    delays = []
    for attempt in (1, 5, 10, 40):
        job.attempt = attempt
        delays.append(Worker().backoff(job))
    assert delays[0] < delays[1] < delays[2]
    assert delays[3] <= MAX_BACKOFF * 1.1


def test_default_timeout_is_none_and_path_is_the_dotted_class_path() -> None:
    assert Noop().timeout(Noop.new()) is None
    assert Noop.path() == "tests.runtime.jobs.Noop"
