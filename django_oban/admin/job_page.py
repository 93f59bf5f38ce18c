"""The job page: every field read-only, and buttons (cancel, retry, run now, delete) that apply to the job's state.

A unique job's page adds its unique options, key and whether it counts now; a cron job's its
expression, slot and the next run of its ``OBAN["CRON"]`` entry.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, DELETION
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import router, transaction
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
)
from django.template.response import TemplateResponse
from django.urls import URLPattern, reverse
from django.utils.html import format_html, format_html_join
from django_object_actions import DjangoObjectActions, action

from ..cron import schedule
from ..cron.entries import CronConfigError, configured_entries, configured_timezone, entry_of
from ..managing import managed_by
from ..models import Job
from ..operations import CANCEL, DELETE, DUPLICATE_EXPLANATION, RETRY, RUN_NOW, Operation
from ..unique import counting
from .audit import log_job
from .ids import job_id
from .permissions import JobPermissions

_Function = TypeVar("_Function", bound=Callable[..., Any])


def button(*, label: str, description: str) -> Callable[[_Function], _Function]:
    """A job page button: a form posted to the button's URL (a GET does nothing)."""
    decorate: Callable[[_Function], _Function] = action(
        label=label, description=description, methods=("POST",), button_type="form"
    )
    return decorate


@dataclass(frozen=True)
class Button:
    """A job page button: the operation it runs on the job, and who may press it."""

    operation: Operation
    permission: str  #: ``has_<permission>_permission`` decides who sees and uses it


BUTTONS = {
    "cancel_job": Button(CANCEL, "cancel"),
    "retry_job": Button(RETRY, "retry"),
    "run_now": Button(RUN_NOW, "change"),
    "delete_job": Button(DELETE, "delete"),
}

#: The job page's sections for unique jobs and for cron jobs (read-only fields).
UNIQUE_FIELDS = ("unique_options", "unique_key", "unique_counts")
CRON_FIELDS = ("cron_expression", "cron_slot", "cron_next_run")


def is_cron_job(job: Job) -> bool:
    """Whether a cron entry inserted ``job`` (its meta has the key ``cron``)."""
    return isinstance(job.meta, dict) and "cron" in job.meta


class JobPageMixin(DjangoObjectActions, JobPermissions):  # type: ignore[misc]
    """The read-only job page and its buttons (``change_actions``, through django-object-actions)."""

    def get_urls(self) -> list[URLPattern]:
        """Django's and the buttons' URLs; a job URL for something that is no job id (``abc/change/``) is a 404.

        A job id that names no job (a deleted job) gets Django's usual "doesn't exist" redirect.
        """
        return [_refusing_non_ids(url) for url in super().get_urls()]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The job page, read-only: jobs change through the buttons, never by editing fields."""
        if request.method == "POST":
            raise PermissionDenied
        read_only = {"show_save": False, "show_save_and_continue": False, "show_save_and_add_another": False,
                     "show_delete": False}  # the Delete button at the top asks for confirmation
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **read_only})

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Django's delete URL for a job goes through the Delete button's rules and confirmation."""
        job = self.get_object(request, unquote(object_id))
        if job is None:
            return super().delete_view(request, object_id, extra_context)
        response = self.delete_job(request, job)
        return response or HttpResponseRedirect(reverse("admin:django_oban_job_change", args=(job.pk,)))

    def get_fieldsets(self, request: HttpRequest, obj: Job | None = None) -> Any:
        """The job's fields, with a Unique section for a unique job and a Cron section for a cron job."""
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None and obj.unique_key is not None:
            fieldsets.append(("Unique", {"fields": UNIQUE_FIELDS}))
        if obj is not None and is_cron_job(obj):
            fieldsets.append(("Cron", {"fields": CRON_FIELDS}))
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Job | None = None) -> Any:
        return (*super().get_readonly_fields(request, obj), *UNIQUE_FIELDS, *CRON_FIELDS)

    @admin.display(description="unique options")
    def unique_options(self, job: Job) -> str:
        return _pre(job.unique)

    @admin.display(description="counts now")
    def unique_counts(self, job: Job) -> str:
        """Whether the job counts as a duplicate now, so that no job with its key can be inserted."""
        states = ", ".join((job.unique or {}).get("states", []))
        if counting(Job.objects.filter(pk=job.pk)).exists():
            return f"Yes: while it is {job.state}, no other job with its unique key can be inserted."
        return f"No: it counts only while {states}; another job with its unique key can be inserted."

    @admin.display(description="cron expression")
    def cron_expression(self, job: Job) -> str:
        return str(job.meta.get("cron", "—"))

    @admin.display(description="cron slot")
    def cron_slot(self, job: Job) -> str:
        return str(job.meta.get("cron_slot", "—"))

    @admin.display(description="entry's next run")
    def cron_next_run(self, job: Job) -> str:
        """When the ``OBAN["CRON"]`` entry that inserted this job runs next (as ``oban_cron`` lists it)."""
        try:
            entry = entry_of(job, configured_entries())
            tz = configured_timezone()
        except CronConfigError as exc:
            return f"Unknown: {exc} ({exc.check_id})"
        if entry is None:
            return "No entry of OBAN['CRON'] inserts this job's expression and worker now."
        if entry.schedule.is_reboot:
            return "At each node start."
        next_run = entry.next_run(schedule.database_now(router.db_for_read(Job)).astimezone(tz))
        return f"{next_run.isoformat()} ({tz})" if next_run else "Never."

    @admin.display(description="args")
    def pretty_args(self, job: Job) -> str:
        return _pre(job.args)

    @admin.display(description="meta")
    def pretty_meta(self, job: Job) -> str:
        return _pre(job.meta)

    @admin.display(description="errors")
    def pretty_errors(self, job: Job) -> str:
        if not job.errors:
            return "—"
        if not isinstance(job.errors, list):
            return _pre(job.errors)
        return format_html_join(
            "", "<div><strong>Attempt {} at {}</strong><pre>{}</pre></div>",
            (_error_parts(error) for error in job.errors),
        )

    def get_change_actions(self, request: HttpRequest, object_id: str, form_url: str) -> list[str]:
        """The buttons this user may use on this job in its current state."""
        pk = job_id(object_id)
        state = Job.objects.filter(pk=pk).values_list("state", flat=True).first() if pk is not None else None
        return [name for name in BUTTONS if state is not None and self._button_applies(request, name, state)]

    @button(label="Cancel", description="Cancel this job")
    def cancel_job(self, request: HttpRequest, job: Job) -> HttpResponse | None:
        return self._press(request, job, "cancel_job")

    @button(label="Retry", description="Make this job available now")
    def retry_job(self, request: HttpRequest, job: Job) -> HttpResponse | None:
        return self._press(request, job, "retry_job")

    @button(label="Run now", description="Run this job now")
    def run_now(self, request: HttpRequest, job: Job) -> HttpResponse | None:
        return self._press(request, job, "run_now")

    @button(label="Delete", description="Delete this job (asks for confirmation)")
    def delete_job(self, request: HttpRequest, job: Job) -> HttpResponse | None:
        """Show a confirmation page like Django's; posting ``post=yes`` deletes the job."""
        if request.method == "POST" and request.POST.get("post") == "yes":
            return self._press(request, job, "delete_job")
        self._check_button_permission(request, job, "delete_job")
        if not self._button_applies(request, "delete_job", job.state):
            return self._nothing_to_do(request, job)
        context = {
            **self.admin_site.each_context(request),
            "title": "Delete job: are you sure?",
            "opts": self.model._meta,
            "deletable_count": 1,
            "to_delete": [job],
            "more_to_delete": 0,
            "skipped": [],
            "form_url": reverse("admin:django_oban_job_actions", args=(job.pk, "delete_job")),
            "back_url": reverse("admin:django_oban_job_change", args=(job.pk,)),
        }
        return TemplateResponse(request, "admin/django_oban/job/delete_jobs.html", context)

    def _button_applies(self, request: HttpRequest, name: str, state: str) -> bool:
        rule = BUTTONS[name]
        return rule.operation.acts_on(state) and self.has_permission_named(request, rule.permission)

    def _check_button_permission(self, request: HttpRequest, job: Job, name: str) -> None:
        permission = BUTTONS[name].permission
        if not self.has_view_permission(request, job) or not self.has_permission_named(request, permission):
            raise PermissionDenied

    def _press(self, request: HttpRequest, job: Job, name: str) -> HttpResponse | None:
        """Check permission and state, change the job, log it, report it."""
        self._check_button_permission(request, job, name)
        operation = BUTTONS[name].operation
        changed = 0
        if operation.acts_on(job.state):
            with managed_by("admin", request.user), transaction.atomic(using=router.db_for_write(Job)):
                changed = Job.objects.filter(pk=job.pk).perform(operation)
                if changed:
                    log_job(request, job, DELETION if operation is DELETE else CHANGE, operation.past)
        if not changed:
            return self._not_changed(request, job, operation)
        self.message_user(request, f"Job {job.pk} {operation.past}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:django_oban_job_changelist")) if operation is DELETE else None

    def _not_changed(self, request: HttpRequest, job: Job, operation: Operation) -> HttpResponseRedirect:
        """Say why the job was not changed: a retry that would duplicate a unique job, or its state."""
        if operation is RETRY and Job.objects.filter(pk=job.pk).retry_duplicates().exists():
            reason = operation.duplicate_reason
            message = f"Job {job.pk} was not {operation.past}: it {DUPLICATE_EXPLANATION} ({reason})."
            self.message_user(request, message, messages.WARNING)
            return HttpResponseRedirect(reverse("admin:django_oban_job_change", args=(job.pk,)))
        return self._nothing_to_do(request, job)

    def _nothing_to_do(self, request: HttpRequest, job: Job) -> HttpResponseRedirect:
        state = Job.objects.filter(pk=job.pk).values_list("state", flat=True).first() or job.state
        self.message_user(request, f"Job {job.pk} is {state}: nothing to do.", messages.WARNING)
        return HttpResponseRedirect(reverse("admin:django_oban_job_change", args=(job.pk,)))


def _refusing_non_ids(url: URLPattern) -> URLPattern:
    """``url``, answering 404 when the job it names (``object_id``, or a button's ``pk``) is not a job id."""
    view = url.callback

    @wraps(view)
    def refusing(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        named = kwargs.get("object_id", kwargs.get("pk"))
        if named is not None and job_id(unquote(named)) is None:
            raise Http404("No job has this id.")
        response: HttpResponseBase = view(request, *args, **kwargs)
        return response

    return URLPattern(url.pattern, refusing, url.default_args, url.name)


def _pre(value: Any) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


def _error_parts(error: Any) -> tuple[Any, Any, str]:
    """(attempt, time, text) of one recorded error; anything unexpected is shown as JSON."""
    if isinstance(error, dict) and isinstance(error.get("error"), str):
        return error.get("attempt", "?"), error.get("at", ""), error["error"]
    if isinstance(error, dict):
        return error.get("attempt", "?"), error.get("at", ""), json.dumps(error, indent=2, ensure_ascii=False)
    return "?", "", json.dumps(error, indent=2, ensure_ascii=False)
