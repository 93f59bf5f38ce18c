"""Who manages jobs (the surface and the user), and the one ``jobs_managed`` signal per call.

The QuerySet reports each management operation it performs (``reports``) and nothing else
does, so every surface is counted the same way. A surface says who it is with
``managed_by``; inside that block the operations' counts are gathered and ``jobs_managed`` is
sent once per operation when the block ends without an error, after the transaction the
block encloses has committed::

    with managed_by("admin", request.user):
        with transaction.atomic():
            queryset.cancel()          # jobs_managed(sender="cancel", source="admin", …) after commit

Outside such a block an operation is a call of the Python API: ``jobs_managed`` is sent as
the QuerySet method returns (inside the caller's transaction, if any) with ``source="api"``.
An operation made of others (``run_now`` is an update) is reported once, as itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from .signals import send_jobs_managed

#: The surfaces that manage jobs: ``source`` of ``jobs_managed``.
SOURCES = ("api", "admin", "command")

_Params = ParamSpec("_Params")
_Result = TypeVar("_Result")


@dataclass
class Tally:
    """What one operation changed during a managed call: a count and, when all were known, the ids."""

    count: int = 0
    ids: list[int] | None = field(default_factory=list)

    def add(self, count: int, ids: list[int] | None) -> None:
        self.count += count
        self.ids = None if self.ids is None or ids is None else [*self.ids, *ids]


@dataclass
class ManagedCall:
    """A surface's call in progress: who made it, and what each operation changed so far."""

    source: str
    user: Any = None
    tallies: dict[tuple[str, tuple[tuple[str, Any], ...]], Tally] = field(default_factory=dict)


_CALL: ContextVar[ManagedCall | None] = ContextVar("django_oban_managed_call", default=None)
_IN_OPERATION: ContextVar[bool] = ContextVar("django_oban_in_operation", default=False)


@contextmanager
def managed_by(source: str, user: Any = None) -> Iterator[ManagedCall]:
    """Attribute the operations inside the block to ``source`` and ``user``; signal them once at its end.

    ``ValueError`` for a source not in ``SOURCES``. Inside another ``managed_by`` block this
    one changes nothing: the outer surface reports.
    """
    if source not in SOURCES:
        raise ValueError(f"Unknown source {source!r}; sources are {', '.join(SOURCES)}.")
    outer = _CALL.get()
    if outer is not None:
        yield outer
        return
    call = ManagedCall(source, user)
    token = _CALL.set(call)
    try:
        yield call
    finally:
        _CALL.reset(token)
    for (operation, details), tally in call.tallies.items():
        send_jobs_managed(operation, tally.count, tally.ids, source=call.source, user=call.user, **dict(details))


def record(operation: str, count: int, ids: list[int] | None = None, **details: Any) -> None:
    """Report that ``operation`` changed ``count`` jobs (``ids`` when known).

    Gathered into the current ``managed_by`` call, else sent at once with ``source="api"``.
    Queue operations pass ``queue``, ``node`` and ``limit`` as ``details``.
    """
    call = _CALL.get()
    if call is None:
        send_jobs_managed(operation, count, ids, source="api", user=None, **details)
        return
    key = (operation, tuple(sorted(details.items())))
    call.tallies.setdefault(key, Tally()).add(count, ids)


def reports(operation: str) -> Callable[[Callable[_Params, _Result]], Callable[_Params, _Result]]:
    """Decorate a ``JobQuerySet`` method that performs ``operation``: ``record`` what it changed.

    The result gives the count: an ``int``, Django's ``(count, by_model)`` pair, or the list of
    changed rows (their ids too; rows with ``conflict`` set were left unchanged). Operations
    it calls itself are not reported.
    """

    def decorate(method: Callable[_Params, _Result]) -> Callable[_Params, _Result]:
        @wraps(method)
        def reporting(*args: _Params.args, **kwargs: _Params.kwargs) -> _Result:
            if _IN_OPERATION.get():
                return method(*args, **kwargs)
            token = _IN_OPERATION.set(True)
            try:
                result = method(*args, **kwargs)
            finally:
                _IN_OPERATION.reset(token)
            record(operation, *changed(result))
            return result

        return reporting

    return decorate


def changed(result: Any) -> tuple[int, list[int] | None]:
    """The count and (for rows) the ids of what an operation method returned."""
    if isinstance(result, tuple):
        return int(result[0]), None
    if isinstance(result, list):
        ids = [row.pk for row in result if not getattr(row, "conflict", False)]
        return len(ids), ids
    return int(result), None
