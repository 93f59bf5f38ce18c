"""Choosing the jobs a command acts on: ids, or the filters every command shares."""

from __future__ import annotations

from argparse import ArgumentParser
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.management.base import CommandError
from django.utils import timezone

from ..changes import DURATION_HELP
from ..models import Job
from ..querysets import JobQuerySet
from ..states import JobState
from .arguments import parse_age, parse_ids, parse_name, parse_states

_FILTER_OPTIONS = ("queue", "state", "worker", "tag", "older_than")


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
        queryset = all_jobs().with_ids(job_ids)
        found = set(queryset.values_list("pk", flat=True))
        return Selection(queryset, [pk for pk in job_ids if pk not in found])
    return Selection(_filtered(filters))


def all_jobs() -> JobQuerySet:
    """Every job, as the ``JobQuerySet`` the commands filter."""
    return Job.objects.all()


def _filtered(filters: dict[str, Any]) -> JobQuerySet:
    queryset = all_jobs()
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
