"""What the job management commands share: selecting jobs, running in batches, reporting.

Every command validates all of its input before its first write, then works set-based: one
statement for the whole selection, or, above ``--batch-size`` jobs, one short transaction per
batch of consecutive ids, with a progress bar when stderr is a terminal.
"""

from __future__ import annotations

import json
import signal
import threading
from argparse import ArgumentParser
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from operator import methodcaller
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, models, transaction
from django.utils import timezone
from tqdm import tqdm

from ..changes import DURATION_HELP
from ..changes import parse_duration as duration_value
from ..models import Job
from ..querysets import SKIPPED_STATES, JobQuerySet
from ..states import JobState

DEFAULT_BATCH_SIZE = 1000
INTERRUPTED_STATUS = 130  # the shell's status for a process stopped by Ctrl-C (128 + SIGINT)
MAX_ID = 2**63 - 1  # ids are 64-bit integers
#: Why a NUL character is refused: PostgreSQL text and JSONB cannot hold it.
NUL_MESSAGE = "contains a NUL character (\\u0000), which PostgreSQL cannot store."


def parse_duration(value: Any, option: str) -> timedelta:
    """``30s``, ``5m``, ``2h``, ``1d``, ``1w``, ``1h30m`` or plain seconds, as a ``timedelta``."""
    try:
        return duration_value(value)
    except ValueError as exc:
        raise CommandError(f"Invalid {option} {value!r}: {exc}.") from None


def parse_age(value: Any, option: str) -> timedelta:
    """A duration back from now (``--older-than``): one whose start is a representable time."""
    age = parse_duration(value, option)
    try:
        timezone.now() - age
    except OverflowError:
        raise CommandError(f"Invalid {option} {value!r}: that reaches back before the year 1.") from None
    return age


def parse_int(value: Any, option: str, *, minimum: int | None = None) -> int:
    """An integer option value (a string from the command line, or an int from ``call_command``)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise CommandError(f"Invalid {option} {value!r}: expected an integer.")
    try:
        number = int(value)
    except ValueError:
        raise CommandError(f"Invalid {option} {value!r}: expected an integer.") from None
    if minimum is not None and number < minimum:
        raise CommandError(f"Invalid {option} {value!r}: must be at least {minimum}.")
    return number


def parse_json_object(value: Any, option: str) -> Any:
    """The JSON value given to ``option``; whether it is an object is checked with the changes."""
    if isinstance(value, dict):
        parsed = value
    else:
        try:
            parsed = json.loads(value)
        except (TypeError, ValueError) as exc:
            raise CommandError(f"Invalid {option} {value!r}: not valid JSON ({exc}).") from None
    if _holds_nul(parsed):
        raise CommandError(f"Invalid {option} {value!r}: {NUL_MESSAGE}")
    return parsed


def _holds_nul(value: Any) -> bool:
    """Whether a NUL character is in a string anywhere in ``value`` (keys included)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return any(map(_holds_nul, value))
    return False


def reject_nul(value: Any, option: str) -> Any:
    """``value`` unchanged, unless it is a string holding a NUL character."""
    if isinstance(value, str) and _holds_nul(value):
        raise CommandError(f"Invalid {option} {value!r}: {NUL_MESSAGE}")
    return value


def parse_ids(values: Iterable[Any]) -> list[int]:
    """Job ids from the command line, de-duplicated in the order given."""
    ids: dict[int, None] = {}
    for value in values:
        text = str(value).strip()
        if not (text.isascii() and text.isdigit()) or not text.strip("0"):
            raise CommandError(f"Invalid job id {value!r}: expected a positive integer.")
        if len(text.lstrip("0")) > len(str(MAX_ID)) or int(text) > MAX_ID:
            raise CommandError(f"Invalid job id {value!r}: ids are at most {MAX_ID}.")
        ids[int(text)] = None
    return list(ids)


def parse_states(values: Iterable[str], option: str = "--state") -> list[str]:
    """State names, each checked against ``JobState``."""
    states = []
    for value in values:
        state = value.strip().lower()
        if state not in JobState.values:
            raise CommandError(f"Invalid {option} {value!r}: states are {', '.join(JobState.values)}.")
        states.append(state)
    return states


def parse_name(value: Any, option: str) -> str:
    """A non-blank queue, worker or tag name."""
    if not isinstance(value, str) or not value.strip():
        raise CommandError(f"Invalid {option} {value!r}: expected a non-blank name.")
    return reject_nul(value, option).strip()


# -- selecting jobs ------------------------------------------------------------------


def add_selection_arguments(parser: ArgumentParser) -> None:
    """Job ids, or the filters shared by every command that acts on chosen jobs."""
    parser.add_argument("ids", nargs="*", metavar="ID", help="Ids of the jobs to act on (or use filters instead).")
    filters = parser.add_argument_group(
        "filters",
        "Select jobs by filter instead of by id; a job must match every filter given. "
        "--queue, --state and --worker may be repeated to match any of their values.",
    )
    filters.add_argument("--queue", action="append", default=[], metavar="NAME", help="Jobs in this queue.")
    filters.add_argument(
        "--state",
        action="append",
        default=[],
        metavar="STATE",
        help=f"Jobs in this state: {', '.join(JobState.values)}.",
    )
    filters.add_argument(
        "--worker", action="append", default=[], metavar="PATH", help="Jobs of this worker (its full dotted path)."
    )
    filters.add_argument(
        "--tag", action="append", default=[], metavar="TAG", help="Jobs carrying this tag (repeated: all of them)."
    )
    filters.add_argument(
        "--older-than", metavar="DURATION", help=f"Jobs inserted more than DURATION ago ({DURATION_HELP})."
    )


@dataclass(frozen=True)
class Selection:
    """The jobs a command acts on, and the requested ids that matched no job."""

    queryset: JobQuerySet
    not_found: list[int] = field(default_factory=list)


_FILTER_OPTIONS = ("queue", "state", "worker", "tag", "older_than")


def select_jobs(ids: Iterable[Any], options: dict[str, Any]) -> Selection:
    """Validate ids or filters (never neither, never both) and return the jobs they select."""
    job_ids = parse_ids(ids)
    filters = {name: options[name] for name in _FILTER_OPTIONS if options.get(name)}
    if not job_ids and not filters:
        raise CommandError(
            "Give job ids or at least one filter (--queue, --state, --worker, --tag, --older-than); "
            "there is no implicit 'all jobs'."
        )
    if job_ids and filters:
        flags = ", ".join(f"--{name.replace('_', '-')}" for name in filters)
        raise CommandError(f"Give job ids or filters, not both (got ids and {flags}).")
    if job_ids:
        queryset = Job.objects.filter(pk__in=job_ids)
        found = set(queryset.values_list("pk", flat=True))
        return Selection(queryset, [pk for pk in job_ids if pk not in found])
    return Selection(_filtered(filters))


def _filtered(filters: dict[str, Any]) -> JobQuerySet:
    queryset: JobQuerySet = Job.objects.all()
    if "queue" in filters:
        queryset = queryset.filter(queue__in=[parse_name(queue, "--queue") for queue in filters["queue"]])
    if "state" in filters:
        queryset = queryset.filter(state__in=parse_states(filters["state"]))
    if "worker" in filters:
        queryset = queryset.filter(worker__in=[parse_name(worker, "--worker") for worker in filters["worker"]])
    for tag in filters.get("tag", ()):
        queryset = queryset.tagged(parse_name(tag, "--tag"))
    if "older_than" in filters:
        age = parse_age(filters["older_than"], "--older-than")
        queryset = queryset.filter(inserted_at__lt=timezone.now() - age)
    return queryset


# -- operations and their report -------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """One way of changing jobs, with the words to report it."""

    name: str
    past: str
    apply: Callable[[JobQuerySet], int]
    skipped_states: tuple[str, ...] = ()
    skip_reason: str = ""

    @property
    def conditional(self) -> str:
        return f"Would {self.name}"


def delete_jobs(jobs: JobQuerySet) -> int:
    """``JobQuerySet.delete()`` as a count (executing jobs are never deleted)."""
    return jobs.delete()[0]


def _api_operation(name: str, past: str, apply: Callable[[JobQuerySet], int]) -> Operation:
    return Operation(name, past, apply, *SKIPPED_STATES[name])


#: The queryset operations of the API, by name, each with the states it skips and why.
API_OPERATIONS: dict[str, Operation] = {
    "cancel": _api_operation("cancel", "Cancelled", methodcaller("cancel")),
    "retry": _api_operation("retry", "Retried", methodcaller("retry")),
    "delete": _api_operation("delete", "Deleted", delete_jobs),
}


@dataclass
class Report:
    """What a run changed, skipped (by state, with the reason) and did not find."""

    operation: Operation
    dry_run: bool
    skipped: dict[str, int]
    not_found: list[int]
    changed: int = 0
    interrupted: bool = False
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation.name,
            "dry_run": self.dry_run,
            "changed": self.changed,
            "skipped": {
                state: {"count": count, "reason": self.operation.skip_reason} for state, count in self.skipped.items()
            },
            "not_found": self.not_found,
            "interrupted": self.interrupted,
            "error": self.error,
        }


def n_jobs(count: int) -> str:
    """``1 job``, ``2 jobs``."""
    return f"{count} job" if count == 1 else f"{count} jobs"


def _were(count: int) -> str:
    return "was" if count == 1 else "were"


# -- batches ----------------------------------------------------------------------------


class CtrlC:
    """Ctrl-C (SIGINT) that waits while a batch commits and is counted.

    Outside ``held()`` a Ctrl-C raises ``KeyboardInterrupt`` as usual, so a statement blocked
    on a lock is interrupted (psycopg cancels it on the server) and its batch rolled back.
    Inside, it is remembered and raised when the block ends, so a batch is never committed
    without being counted. A second Ctrl-C while held raises at once. Only installed in the
    main thread, over Python's default handler (not where SIGINT is ignored or handled).
    """

    def __init__(self) -> None:
        self._held = False
        self._pending = False
        self._previous: Any = None

    def __enter__(self) -> CtrlC:
        on_main_thread = threading.current_thread() is threading.main_thread()
        if on_main_thread and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self._held and not self._pending:
            self._pending = True
            return
        raise KeyboardInterrupt

    def hold(self) -> None:
        """From here a Ctrl-C waits for ``release()``."""
        self._held = True

    def release(self, *, interrupt: bool = True) -> None:
        """Raise the ``KeyboardInterrupt`` of a Ctrl-C that came while held (if ``interrupt``)."""
        pending, self._held, self._pending = self._pending, False, False
        if pending and interrupt:
            raise KeyboardInterrupt


def run_in_batches(
    queryset: JobQuerySet,
    target: JobQuerySet,
    operation: Operation,
    *,
    expected: int,
    batch_size: int,
    progress: tqdm,
    report: Report,
) -> None:
    """Apply ``operation`` to ``queryset``, one transaction per batch of ``batch_size`` target ids.

    ``target`` is the part of ``queryset`` the operation changes: batch bounds are taken from
    it so every batch holds ``batch_size`` jobs to change. Up to ``batch_size`` expected
    changes it is a single statement. A ``KeyboardInterrupt`` or database error stops the run:
    the batch in flight is rolled back, finished batches stay done, and ``report`` says so.
    A Ctrl-C that comes while a batch commits waits until it is counted.
    """
    lower: int | None = None
    try:
        with CtrlC() as ctrl_c:
            while True:
                upper = None if expected <= batch_size else _batch_upper_bound(target, lower, batch_size)
                batch = queryset if lower is None else queryset.filter(pk__gt=lower)
                if upper is not None:
                    batch = batch.filter(pk__lte=upper)
                with transaction.atomic(using=queryset.db):
                    changed = operation.apply(batch)
                    ctrl_c.hold()  # the commit, then the count
                try:
                    report.changed += changed
                    progress.update(changed)
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


def counts_by_state(queryset: JobQuerySet) -> dict[str, int]:
    """``{state: count}`` of ``queryset``, in ``JobState`` order, in one ``GROUP BY`` query."""
    rows = dict(queryset.order_by().values_list("state").annotate(count=models.Count("pk")))
    return {state: rows[state] for state in JobState.values if state in rows}


# -- commands ---------------------------------------------------------------------------


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
            raise CommandError(
                "Interrupted before any job was changed.", returncode=INTERRUPTED_STATUS
            ) from None
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

    def perform(self, operation: Operation, selection: Selection, options: dict[str, Any]) -> None:
        """Run ``operation`` on the selected jobs (unless ``--dry-run``) and write the report.

        Raises ``CommandError`` after writing the report if the run was interrupted or failed.
        """
        batch_size = parse_int(options["batch_size"], "--batch-size", minimum=1)
        counts = counts_by_state(selection.queryset)
        skipped = {state: count for state, count in counts.items() if state in operation.skipped_states}
        expected = sum(counts.values()) - sum(skipped.values())
        report = Report(operation, options["dry_run"], skipped, selection.not_found)
        if report.dry_run:
            report.changed = expected
        else:
            target = selection.queryset.exclude(state__in=operation.skipped_states)
            self.writing = True
            with self.progress_bar(expected, operation, options) as progress:
                run_in_batches(
                    selection.queryset,
                    target,
                    operation,
                    expected=expected,
                    batch_size=batch_size,
                    progress=progress,
                    report=report,
                )
        self.write_report(report, options["json"])
        if report.interrupted:
            raise CommandError(
                f"Interrupted after {n_jobs(report.changed)} {_were(report.changed)} {operation.past.lower()}: "
                "every finished batch is committed and stays so, the remaining jobs are untouched. "
                "Run the command again to continue.",
                returncode=INTERRUPTED_STATUS,
            )
        if report.error:
            done = (
                f"after {n_jobs(report.changed)} {_were(report.changed)} {operation.past.lower()} in earlier batches "
                "(those stay so; the failed batch and the rest are untouched)"
                if report.changed
                else "before any job was changed"
            )
            raise CommandError(f"Stopped by an error {done}: {report.error}")

    def progress_bar(self, total: int, operation: Operation, options: dict[str, Any]) -> tqdm:
        """A ``tqdm`` bar on stderr, shown only on a terminal, never with ``--json``."""
        stream = getattr(self.stderr, "_out", self.stderr)  # the raw stream: tqdm draws with "\r"
        shown = not options["json"] and options["verbosity"] > 0 and stream.isatty()
        return tqdm(total=total, desc=operation.past, unit="job", file=stream, disable=not shown, leave=False)

    def write_report(self, report: Report, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps(report.as_dict()))
            return
        verb = report.operation.conditional if report.dry_run else report.operation.past
        summary = f"{verb} {n_jobs(report.changed)}."
        if report.dry_run:
            summary += " (Dry run: nothing was changed.)"
        self.stdout.write(self.style.SUCCESS(summary))
        if report.skipped:
            states = ", ".join(f"{count} {state}" for state, count in report.skipped.items())
            skipped = n_jobs(sum(report.skipped.values()))
            self.stdout.write(self.style.WARNING(f"Skipped {skipped}, {report.operation.skip_reason}: {states}."))
        if report.not_found:
            self.stdout.write(self.style.WARNING(f"Not found: {', '.join(map(str, report.not_found))}."))


class JobsCommand(OperationCommand):
    """A command acting on jobs chosen by id or by the shared filters."""

    def add_arguments(self, parser: ArgumentParser) -> None:
        add_selection_arguments(parser)
        super().add_arguments(parser)

    def handle(self, **options: Any) -> None:
        selection = select_jobs(options["ids"], options)
        self.perform(self.operation(selection, options), selection, options)

    #: The name of an operation of ``API_OPERATIONS``, or override ``operation()``.
    operation_name = ""

    def operation(self, selection: Selection, options: dict[str, Any]) -> Operation:
        """The operation to run, built from (and validating) the command's own options."""
        return API_OPERATIONS[self.operation_name]
