"""The base classes of the commands that change jobs (``oban_cancel``, ``oban_update``, …).

Every such command validates all of its input before its first write, then works
set-based: one statement for the whole selection, or, above ``--batch-size`` jobs, one short
transaction per batch of consecutive ids (``batches.py``), with a progress bar when stderr is
a terminal. What a job operation does is ``JobQuerySet``'s; which states it skips and the
words of the report are the operations table's (``django_oban.operations``).
"""

from __future__ import annotations

from argparse import ArgumentParser
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from tqdm import tqdm

from ..managing import managed_by
from ..operations import RETRY, Operation, operation_named
from ..querysets import JobQuerySet
from .arguments import parse_int
from .batches import DEFAULT_BATCH_SIZE, run_in_batches
from .interrupts import INTERRUPTED_STATUS
from .reports import Report
from .selection import Selection, add_selection_arguments, select_jobs

#: Writes one batch of jobs; returns how many it changed and how many unique jobs it skipped
#: because they would have become duplicates.
Apply = Callable[[JobQuerySet], tuple[int, int]]


class OperationCommand(BaseCommand):
    """A command that changes jobs: ``--dry-run``, ``--json``, ``--batch-size`` and the report."""

    #: Set once the first batch starts: from then on the report says what was done.
    writing = False

    def execute(self, *args: Any, **options: Any) -> Any:
        """Run the command; Ctrl-C or a database error before the first write is a clean ``CommandError``."""
        self.writing = False
        try:
            return super().execute(*args, **options)
        except KeyboardInterrupt:
            if self.writing:
                raise
            raise CommandError("Interrupted before any job was changed.", returncode=INTERRUPTED_STATUS) from None
        except DatabaseError as exc:
            if self.writing:
                raise
            raise CommandError(f"Stopped by a database error before any job was changed: {str(exc).strip()}") from None

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would happen without changing anything."
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print the report as one JSON object on stdout: changed, skipped (with reasons), not_found.",
        )
        parser.add_argument(
            "--batch-size",
            default=DEFAULT_BATCH_SIZE,
            metavar="N",
            help=f"Change at most N jobs per transaction (default {DEFAULT_BATCH_SIZE}).",
        )

    def perform(
        self, operation: Operation, selection: Selection, options: dict[str, Any], apply: Apply | None = None
    ) -> None:
        """Run ``operation`` on the selected jobs (unless ``--dry-run``) and write the report.

        ``apply`` writes one batch; by default ``JobQuerySet.perform(operation)``. A retry counts
        the unique jobs it skips (``retry_duplicates()``) before it starts, dry run or not. Raises
        ``CommandError`` after writing the report if the run was interrupted or failed.
        """
        batch_size = parse_int(options["batch_size"], "--batch-size", minimum=1)
        counts = selection.queryset.count_by_state()
        skipped = {state: count for state, count in counts.items() if not operation.acts_on(state)}
        report = Report(operation, options["dry_run"], skipped, selection.not_found)
        if operation is RETRY:
            report.duplicates = selection.queryset.retry_duplicates().count()
        expected = sum(counts.values()) - sum(skipped.values()) - report.duplicates
        if report.dry_run:
            report.changed = expected
        else:
            self.writing = True
            with self.progress_bar(expected, operation, options) as progress, managed_by("command"):
                run_in_batches(
                    selection.queryset,
                    apply or (lambda jobs: (jobs.perform(operation), 0)),
                    expected=expected,
                    batch_size=batch_size,
                    progress=progress,
                    report=report,
                )
        report.write(self.stdout, self.style, as_json=options["json"])
        if report.interrupted:
            raise CommandError(
                f"Interrupted after {report.done()}: every finished batch is committed and stays so, "
                "the remaining jobs are untouched. Run the command again to continue.",
                returncode=INTERRUPTED_STATUS,
            )
        if report.error:
            done = (
                f"after {report.done()} in earlier batches (those stay so; the failed batch and the rest are untouched)"
                if report.changed
                else "before any job was changed"
            )
            raise CommandError(f"Stopped by an error {done}: {report.error}")

    def progress_bar(self, total: int, operation: Operation, options: dict[str, Any]) -> tqdm:
        """A ``tqdm`` bar on stderr, shown only on a terminal, never with ``--json``."""
        stream = getattr(self.stderr, "_out", self.stderr)  # the raw stream: tqdm draws with "\r"
        shown = not options["json"] and options["verbosity"] > 0 and stream.isatty()
        return tqdm(
            total=total, desc=operation.past.capitalize(), unit="job", file=stream, disable=not shown, leave=False
        )


class JobsCommand(OperationCommand):
    """A command acting on jobs chosen by id or by the shared filters."""

    #: The name of the operation in ``django_oban.operations`` (or override ``handle``).
    operation_name = ""

    def add_arguments(self, parser: ArgumentParser) -> None:
        add_selection_arguments(parser)
        super().add_arguments(parser)

    def handle(self, **options: Any) -> None:
        selection = select_jobs(options["ids"], options)
        self.perform(operation_named(self.operation_name), selection, options)
