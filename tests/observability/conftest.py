from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from django_oban.signals import job_enqueued, jobs_managed
from tests.admin.conftest import operator, staff_with

__all__ = ["operator", "staff_with"]


def recorder(signal: Any) -> Iterator[list[dict[str, Any]]]:
    """Every sending of ``signal`` during the test: its sender and arguments."""
    sent: list[dict[str, Any]] = []

    def receive(sender: Any, signal: Any, **kwargs: Any) -> None:
        sent.append({"sender": sender, **kwargs})

    signal.connect(receive, weak=False, dispatch_uid="observability-tests")
    yield sent
    signal.disconnect(dispatch_uid="observability-tests")


@pytest.fixture
def managed() -> Iterator[list[dict[str, Any]]]:
    """The ``jobs_managed`` signals sent during the test."""
    yield from recorder(jobs_managed)


@pytest.fixture
def enqueued() -> Iterator[list[dict[str, Any]]]:
    """The ``job_enqueued`` signals sent during the test."""
    yield from recorder(job_enqueued)
