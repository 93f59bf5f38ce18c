"""``manage.py oban_prune``: delete finished jobs older than a cut-off, in batches."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from django_oban.changes import DURATION_HELP
from django_oban.conf import oban_settings
from django_oban.management.arguments import parse_age, parse_states
from django_oban.management.jobs_command import OperationCommand
from django_oban.management.selection import Selection, all_jobs
from django_oban.operations import PRUNE
from django_oban.states import FINISHED_STATES


class Command(OperationCommand):
    help = (
        "Delete finished jobs (completed, discarded, cancelled) that finished more than --older-than ago, "
        "in batches of short transactions, and report how many were deleted."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--older-than",
            metavar="DURATION",
            help=f"Prune jobs finished more than DURATION ago ({DURATION_HELP}; default: OBAN['PRUNE_AFTER']).",
        )
        parser.add_argument(
            "--state",
            action="append",
            default=[],
            metavar="STATE",
            help=f"Prune only jobs in this finished state (repeatable; default: {', '.join(FINISHED_STATES)}).",
        )
        super().add_arguments(parser)

    def handle(self, **options: Any) -> None:
        given = options["older_than"]
        older_than = parse_age(oban_settings.PRUNE_AFTER if given is None else given, "--older-than")
        states = parse_states(options["state"]) or list(FINISHED_STATES)
        unfinished = [state for state in states if state not in FINISHED_STATES]
        if unfinished:
            raise CommandError(
                f"Invalid --state {unfinished[0]!r}: only finished jobs ({', '.join(FINISHED_STATES)}) can be pruned."
            )
        self.perform(PRUNE, Selection(all_jobs().prunable(older_than, states=states)), options)
