"""Job states."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class JobState(models.TextChoices):
    """The life-cycle states of a job."""

    AVAILABLE = "available", _("available")
    SCHEDULED = "scheduled", _("scheduled")
    EXECUTING = "executing", _("executing")
    RETRYABLE = "retryable", _("retryable")
    COMPLETED = "completed", _("completed")
    DISCARDED = "discarded", _("discarded")
    CANCELLED = "cancelled", _("cancelled")


#: States of a job that may still run.
INCOMPLETE_STATES: tuple[str, ...] = (
    JobState.AVAILABLE,
    JobState.SCHEDULED,
    JobState.EXECUTING,
    JobState.RETRYABLE,
)

#: Terminal states.
FINISHED_STATES: tuple[str, ...] = (
    JobState.COMPLETED,
    JobState.DISCARDED,
    JobState.CANCELLED,
)

#: The timestamp a finished state sets: when a job in that state finished.
FINISHED_AT: dict[str, str] = {
    JobState.COMPLETED: "completed_at",
    JobState.CANCELLED: "cancelled_at",
    JobState.DISCARDED: "discarded_at",
}
