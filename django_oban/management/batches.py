"""Running an operation over many jobs in short transactions of consecutive ids."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from tqdm import tqdm

from ..querysets import JobQuerySet
from .interrupts import CtrlC
from .reports import Report

DEFAULT_BATCH_SIZE = 1000


def run_in_batches(
    queryset: JobQuerySet,
    apply: Callable[[JobQuerySet], tuple[int, int]],
    *,
    expected: int,
    batch_size: int,
    progress: tqdm,
    report: Report,
) -> None:
    """Run ``apply`` on ``queryset``, one transaction per batch of ``batch_size`` jobs it changes.

    ``apply`` writes one batch and returns how many jobs it changed and how many unique jobs it
    left alone because they would have become duplicates; both add up in ``report``.

    Batch bounds are taken from the jobs the report's operation changes (``affected_by``), so
    every batch holds ``batch_size`` of them. Up to ``batch_size`` expected changes it is a
    single statement. A ``KeyboardInterrupt`` or database error stops the run: the batch in
    flight is rolled back, finished batches stay done, and ``report`` says so. A Ctrl-C that
    comes while a batch commits waits until it is counted.
    """
    target = queryset.affected_by(report.operation)
    lower: int | None = None
    try:
        with CtrlC() as ctrl_c:
            while True:
                upper = None if expected <= batch_size else _batch_upper_bound(target, lower, batch_size)
                batch = queryset if lower is None else queryset.filter(pk__gt=lower)
                if upper is not None:
                    batch = batch.filter(pk__lte=upper)
                with transaction.atomic(using=queryset.db):
                    changed, duplicates = apply(batch)
                    ctrl_c.hold()  # the commit, then the count
                try:
                    report.changed += changed
                    report.duplicates += duplicates
                    progress.update(changed + duplicates)
                finally:
                    # After the last batch there is nothing left for a Ctrl-C to stop.
                    ctrl_c.release(interrupt=upper is not None)
                if upper is None:
                    return
                lower = upper
    except KeyboardInterrupt:
        report.interrupted = True
    except ValidationError as exc:
        report.error = " ".join(exc.messages)
    except DatabaseError as exc:
        report.error = str(exc).strip()


def _batch_upper_bound(target: JobQuerySet, lower: int | None, batch_size: int) -> int | None:
    """The id closing the next batch of ``batch_size`` target jobs; ``None`` if fewer remain."""
    rest = target if lower is None else target.filter(pk__gt=lower)
    bound = rest.order_by("pk").values_list("pk", flat=True)[batch_size - 1 : batch_size]
    return next(iter(bound), None)
