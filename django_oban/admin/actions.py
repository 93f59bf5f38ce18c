"""Actions on the selected jobs: cancel, retry, delete (after a confirmation page) and update (through a form).

Each is one set-based statement on the selection (with "Select all", on the filtered list),
audited in the same transaction, and reports how many jobs changed and how many were skipped, and why.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.models import CHANGE, DELETION
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.translation import ngettext

from ..forms import JobUpdateForm
from ..managing import managed_by
from ..operations import CANCEL, DELETE, DUPLICATE_EXPLANATION, RETRY, UPDATE, Operation
from ..querysets import JobQuerySet
from .audit import log_jobs
from .ids import job_id
from .permissions import JobPermissions

#: How many jobs a delete confirmation page names (the rest are counted).
LISTED_JOBS = 20


def skipped_lines(operation: Operation, skipped: dict[str, int], duplicates: int = 0) -> list[str]:
    """One line per skipped state, with the operation's reason: ``"2 executing jobs skipped (still running)"``,
    and one for the unique jobs skipped as duplicates: ``"1 job skipped (unique: would duplicate a unique job)"``."""
    reason = operation.skip_reason
    lines = [
        ngettext("%(count)d %(state)s job skipped (%(reason)s)", "%(count)d %(state)s jobs skipped (%(reason)s)",
                 count) % {"count": count, "state": state, "reason": reason}
        for state, count in skipped.items()
    ]
    if duplicates:
        lines.append(ngettext("%(count)d job skipped (%(reason)s: %(explanation)s)",
                              "%(count)d jobs skipped (%(reason)s: %(explanation)s)", duplicates)
                     % {"count": duplicates, "reason": operation.duplicate_reason,
                        "explanation": DUPLICATE_EXPLANATION})
    return lines


def not_job_ids(selected: list[str]) -> list[str]:
    """The values of a posted selection that cannot be job ids (a browser never sends any)."""
    return [value for value in selected if job_id(value) is None]


class BulkActionsMixin(JobPermissions):
    """The ``cancel_jobs``, ``retry_jobs``, ``delete_jobs`` and ``update_jobs`` actions."""

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """Django's job list; an action posted with a selection that is not job ids changes nothing and says so."""
        refused = not_job_ids(request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)) if request.method == "POST" else []
        if refused:
            shown = ", ".join(repr(value[:40]) for value in refused[:3]) + (", …" if len(refused) > 3 else "")
            self.message_user(request, f"No job changed: not a job id: {shown}.", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        return super().changelist_view(request, extra_context)

    @admin.action(description="Cancel selected jobs", permissions=["cancel"])
    def cancel_jobs(self, request: HttpRequest, queryset: JobQuerySet) -> None:
        self._run(request, queryset, CANCEL)

    @admin.action(description="Retry selected jobs", permissions=["retry"])
    def retry_jobs(self, request: HttpRequest, queryset: JobQuerySet) -> None:
        self._run(request, queryset, RETRY, duplicates=queryset.retry_duplicates())

    @admin.action(description="Delete selected jobs", permissions=["delete"])
    def delete_jobs(self, request: HttpRequest, queryset: JobQuerySet) -> HttpResponse | None:
        """Ask for confirmation first, like Django's ``delete_selected``; ``post=yes`` confirms."""
        if request.POST.get("post") == "yes":
            self._run(request, queryset, DELETE)
            return None
        skipped = queryset.skipped_by(DELETE)
        deletable = queryset.affected_by(DELETE)
        deletable_count = deletable.count()
        context = {
            **self._action_context(request, "delete_jobs", "Delete jobs: are you sure?"),
            "deletable_count": deletable_count,
            "to_delete": list(deletable.order_by("-pk").only("pk", "worker", "state")[:LISTED_JOBS]),
            "more_to_delete": max(deletable_count - LISTED_JOBS, 0),
            "skipped": skipped_lines(DELETE, skipped),
            "skipped_jobs": list(queryset.filter(state__in=DELETE.skipped_states).order_by("-pk")
                                 .only("pk", "worker", "state")[:LISTED_JOBS]),
            "more_skipped": max(sum(skipped.values()) - LISTED_JOBS, 0),
        }
        return TemplateResponse(request, "admin/django_oban/job/delete_jobs.html", context)

    @admin.action(description="Update selected jobs", permissions=["change"])
    def update_jobs(self, request: HttpRequest, queryset: JobQuerySet) -> HttpResponse | None:
        """Show the update form; ``apply=1`` with valid values updates every selected job or none."""
        applying = request.POST.get("apply") == "1"
        form = JobUpdateForm(request.POST if applying else None, jobs=queryset)
        if applying and form.is_valid():
            try:
                with managed_by("admin", request.user), transaction.atomic(using=queryset.db):
                    log_jobs(request, queryset, CHANGE, form.description())
                    count, duplicates = queryset.apply_update_counts(form.update)
            except ValidationError as exc:
                form.add_validation_error(exc)
            else:
                self.message_user(request, _report(count, UPDATE, {}, duplicates),
                                  messages.SUCCESS if count else messages.WARNING)
                return None
        context = {
            **self._action_context(request, "update_jobs", "Update jobs"),
            "form": form,
            "count": queryset.count(),
        }
        return TemplateResponse(request, "admin/django_oban/job/update_jobs.html", context)

    def _run(self, request: HttpRequest, queryset: JobQuerySet, operation: Operation,
             duplicates: JobQuerySet | None = None) -> None:
        """Run ``operation`` on the set in one statement, log it, and report changed and skipped counts.

        ``duplicates``: the unique jobs of the set it skips as duplicates (a retry's), neither logged nor counted.
        """
        skipped = queryset.skipped_by(operation)
        changing = queryset.affected_by(operation)
        duplicate_count = 0
        if duplicates is not None:
            duplicate_count = duplicates.count()
            changing = changing.exclude(pk__in=duplicates.values("pk"))
        with managed_by("admin", request.user), transaction.atomic(using=queryset.db):
            log_jobs(request, changing, DELETION if operation is DELETE else CHANGE, operation.past)
            count = queryset.perform(operation)
        message = _report(count, operation, skipped, duplicate_count)
        self.message_user(request, message, messages.SUCCESS if count else messages.WARNING)

    def _action_context(self, request: HttpRequest, action: str, title: str) -> dict[str, Any]:
        """What an intermediate page needs to post the same selection back."""
        return {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "action": action,
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "form_url": request.get_full_path(),
            "back_url": request.get_full_path(),
        }

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        """The actions this user may run; Django's ``delete_selected`` is replaced by ``delete_jobs``."""
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


def _report(count: int, operation: Operation, skipped: dict[str, int], duplicates: int) -> str:
    """``"2 jobs retried. 1 available job skipped (…); 1 job skipped (unique: …)."``"""
    lines = skipped_lines(operation, skipped, duplicates)
    return " ".join([_changed(count, operation), *(["; ".join(lines) + "."] if lines else [])])


def _changed(count: int, operation: Operation) -> str:
    return ngettext("%(count)d job %(past)s.", "%(count)d jobs %(past)s.", count) % {
        "count": count, "past": operation.past}
