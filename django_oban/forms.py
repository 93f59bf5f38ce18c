"""The form behind the admin's ``update_jobs`` action: it builds the ``Update`` the action writes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.functional import cached_property

from .changes import DURATION_HELP, MAX_ATTEMPTS_LIMIT, PRIORITY_RANGE, parse_duration
from .querysets import JobQuerySet
from .updates import Add, Update


class JobUpdateForm(forms.Form):
    """New values for the selected jobs; a blank field leaves that value unchanged."""

    priority = forms.IntegerField(
        required=False, min_value=PRIORITY_RANGE.start, max_value=PRIORITY_RANGE.stop - 1, help_text="0 (highest) to 9."
    )
    queue = forms.CharField(required=False, strip=True, help_text="Move the jobs to this queue.")
    schedule_in = forms.CharField(
        required=False, label="Schedule in", help_text=f"Run the jobs this long from now: {DURATION_HELP}; 0 is now."
    )
    scheduled_at = forms.DateTimeField(required=False, help_text="Or run them at this time (YYYY-MM-DD HH:MM:SS).")
    add_tags = forms.CharField(required=False, help_text="Comma-separated; the jobs keep their other tags.")
    max_attempts = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_ATTEMPTS_LIMIT,
        help_text="Not below the attempts a job has already made."
    )

    def __init__(self, *args: Any, jobs: JobQuerySet, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.jobs = jobs

    def clean_schedule_in(self) -> timedelta | None:
        value: str = self.cleaned_data["schedule_in"]
        if not value:
            return None
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise ValidationError(f"Enter a duration: {exc}.") from None

    def clean_max_attempts(self) -> int | None:
        value: int | None = self.cleaned_data["max_attempts"]
        if value is not None:
            try:
                self.jobs.check_max_attempts(value)
            except ValidationError as exc:
                raise ValidationError(exc.messages) from None  # keyed by field: this field's messages
        return value

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("schedule_in") is not None and data.get("scheduled_at") is not None:
            self.add_error("scheduled_at", "Give a delay or a time, not both.")
        if not self.errors:
            try:
                update = self.update
            except ValidationError as exc:
                self.add_validation_error(exc)
            else:
                if not update:
                    raise ValidationError("Nothing to change: fill in at least one field.")
        return data

    def add_validation_error(self, error: ValidationError) -> None:
        """Show ``error`` (from validating or writing the update) next to the fields it names."""
        for field, messages in error.update_error_dict({}).items():
            field = "add_tags" if field == "tags" else field
            self.add_error(field if field in self.fields else None, messages)

    def changes(self) -> dict[str, Any]:
        """The fields given, as ``Update.from_changes`` takes them (blank ones left out, tags added)."""
        fields = ("priority", "queue", "schedule_in", "scheduled_at", "max_attempts")
        changes: dict[str, Any] = {
            field: self.cleaned_data[field] for field in fields if self.cleaned_data.get(field) not in (None, "")
        }
        if self.cleaned_data.get("add_tags"):
            changes["tags"] = Add(self.cleaned_data["add_tags"].split(","))
        return changes

    @cached_property
    def update(self) -> Update:
        """The validated update of the jobs (``ValidationError`` keyed by field if a value is invalid)."""
        return Update.from_changes(self.changes())

    def description(self) -> str:
        """What the update does, for the audit trail: ``"Updated priority=3, tags added: urgent"``."""
        return "Updated " + self.update.describe()
