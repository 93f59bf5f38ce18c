"""What a command that changes jobs reports: changed, skipped (by state, or as unique duplicates,
with the reason), not found.

The words come from the operations table (``django_oban.operations``): the past tense of
each operation, why it skips the states it skips, and the reason ``"unique"`` for the unique
jobs it skips because they would become duplicates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.core.management.base import OutputWrapper
from django.core.management.color import Style

from ..operations import DUPLICATE_EXPLANATION, Operation


@dataclass
class Report:
    """What a run changed, skipped (by state, and as duplicates of unique jobs) and did not find, and how it ended."""

    operation: Operation
    dry_run: bool
    skipped: dict[str, int]
    not_found: list[int]
    changed: int = 0
    #: Unique jobs left alone because the change would make them duplicates (``operation.duplicate_reason``).
    duplicates: int = 0
    interrupted: bool = False
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` report."""
        skipped = {
            state: {"count": count, "reason": self.operation.skip_reason} for state, count in self.skipped.items()
        }
        if self.duplicates:
            reason = self.operation.duplicate_reason
            skipped[reason] = {"count": self.duplicates, "reason": reason}
        return {
            "operation": self.operation.name,
            "dry_run": self.dry_run,
            "changed": self.changed,
            "skipped": skipped,
            "not_found": self.not_found,
            "interrupted": self.interrupted,
            "error": self.error,
        }

    def done(self) -> str:
        """``3 jobs were cancelled``: what the committed batches did, for messages after a stop."""
        return f"{n_jobs(self.changed)} {'was' if self.changed == 1 else 'were'} {self.operation.past}"

    def write(self, stdout: OutputWrapper, style: Style, *, as_json: bool) -> None:
        """The report as one JSON object, or as lines a person reads."""
        if as_json:
            stdout.write(json.dumps(self.as_dict()))
            return
        if self.dry_run:
            summary = f"Would {self.operation.name.replace('_', ' ')} {n_jobs(self.changed)}."
            summary += " (Dry run: nothing was changed.)"
        else:
            summary = f"{self.operation.past.capitalize()} {n_jobs(self.changed)}."
        stdout.write(style.SUCCESS(summary))
        if self.skipped:
            states = ", ".join(f"{count} {state}" for state, count in self.skipped.items())
            skipped = n_jobs(sum(self.skipped.values()))
            stdout.write(style.WARNING(f"Skipped {skipped}, {self.operation.skip_reason}: {states}."))
        if self.duplicates:
            reason = self.operation.duplicate_reason
            stdout.write(style.WARNING(f"Skipped {n_jobs(self.duplicates)}, {reason}: {DUPLICATE_EXPLANATION}."))
        if self.not_found:
            stdout.write(style.WARNING(f"Not found: {', '.join(map(str, self.not_found))}."))


def n_jobs(count: int) -> str:
    """``1 job``, ``2 jobs``."""
    return f"{count} job" if count == 1 else f"{count} jobs"
