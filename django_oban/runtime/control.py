"""The node's side of queue control: read the operators' settings and apply them to the producers.

The housekeeper applies them every heartbeat and at once when notified; the node's row
reports the result (``view``). The rule (what a node applies, and when a queue or node is
known) is ``django_oban.queues``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from ..queues import effective_controls
from .producer import Producer


class Controlled(Protocol):
    """What applying the controls needs of the node (``Runner``)."""

    node: str

    @property
    def producers(self) -> Mapping[str, Producer]: ...


def apply(runner: Controlled) -> None:
    """Apply the queue controls of the node's queues to their producers (one query)."""
    controls = effective_controls(runner.node, runner.producers)
    for name, producer in runner.producers.items():
        control = controls.get(name)
        paused, limit = (control.paused, control.limit) if control else (False, None)
        producer.control(paused, limit)


def view(runner: Controlled) -> dict[str, dict[str, Any]]:
    """The node's queues as it runs them: ``{queue: {limit, paused, running}}``, for its node row.

    A queue whose controls were not read yet is left out.
    """
    return {
        name: {"limit": producer.limit, "paused": producer.paused, "running": producer.running}
        for name, producer in runner.producers.items()
        if producer.paused is not None
    }
