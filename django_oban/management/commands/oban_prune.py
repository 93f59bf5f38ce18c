"""``manage.py oban_prune``: delete finished jobs older than a cut-off, in batches."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from django_oban.conf import oban_settings
from django_oban.management.base import (
    DURATION_HELP,
    Operation,
    OperationCommand,
    Selection,
    delete_jobs,
    parse_age,
    parse_states,
)
from django_oban.models import Job
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
        older_than = parse_age(options["older_than"] or oban_settings.PRUNE_AFTER, "--older-than")
        states = parse_states(options["state"]) or list(FINISHED_STATES)
        unfinished = [state for state in states if state not in FINISHED_STATES]
        if unfinished:
            raise CommandError(
                f"Invalid --state {unfinished[0]!r}: only finished jobs ({', '.join(FINISHED_STATES)}) can be pruned."
            )
        prunable = Job.objects.prunable(older_than, states=states)
        self.perform(Operation("prune", "Pruned", delete_jobs), Selection(prunable), options)
