"""The ``Job`` admin: a read-only job page with buttons, and set-based bulk actions."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, cast

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import ngettext
from django_object_actions import DjangoObjectActions, action  # type: ignore[import-untyped]

from .forms import JobUpdateForm
from .models import Job
from .querysets import SKIPPED_STATES, JobQuerySet
from .states import JobState

#: Badge colours by state.
STATE_COLOURS = {
    JobState.AVAILABLE: "#2b7bb9",
    JobState.SCHEDULED: "#6f42c1",
    JobState.EXECUTING: "#d08700",
    JobState.RETRYABLE: "#c2410c",
    JobState.COMPLETED: "#2e7d32",
    JobState.DISCARDED: "#b91c1c",
    JobState.CANCELLED: "#6b7280",
}
_PAST = {"cancel": "cancelled", "retry": "retried", "delete": "deleted"}


@admin.register(Job)
class JobAdmin(DjangoObjectActions, admin.ModelAdmin):  # type: ignore[misc]
    """Operate jobs: filter and search them, cancel / retry / delete / update in bulk or one by one."""

    list_display = ("id", "short_worker", "queue", "state_badge", "attempts", "priority",
                    "scheduled_at", "attempted_at", "finished_at", "tag_list")
    list_filter = ("state", "queue", "worker", "priority", "inserted_at")
    search_fields = ("worker",)
    search_help_text = "A job id, a worker path (or part of it), or a tag."
    show_full_result_count = False
    if hasattr(admin, "ShowFacets"):  # Django 5.0+: facet counts would count the whole table per filter
        show_facets = admin.ShowFacets.NEVER
    list_per_page = 100
    ordering = ("-id",)
    actions = ("cancel_jobs", "retry_jobs", "delete_jobs", "update_jobs")
    change_actions = ("cancel_job", "retry_job", "run_now", "delete_job")
    change_list_template = "admin/django_oban/job/change_list.html"
    change_form_template = "admin/django_oban/job/change_form.html"
    fieldsets = (
        (None, {"fields": ("id", "worker", "queue", "state", "priority", "attempt", "max_attempts", "tag_list")}),
        ("Times", {"fields": ("inserted_at", "scheduled_at", "attempted_at", "completed_at", "cancelled_at",
                              "discarded_at", "attempted_by")}),
        ("Data", {"fields": ("pretty_args", "pretty_meta", "pretty_errors")}),
    )
    readonly_fields = ("id", "worker", "queue", "state", "priority", "attempt", "max_attempts", "tag_list",
                       "inserted_at", "scheduled_at", "attempted_at", "completed_at", "cancelled_at",
                       "discarded_at", "attempted_by", "pretty_args", "pretty_meta", "pretty_errors")

    # -- change list ---------------------------------------------------------------

    @admin.display(description="worker", ordering="worker")
    def short_worker(self, job: Job) -> str:
        return format_html('<span title="{}">{}</span>', job.worker, job.worker.rsplit(".", 1)[-1])

    @admin.display(description="state", ordering="state")
    def state_badge(self, job: Job) -> str:
        return format_html(
            '<span class="oban-badge" style="background:{}">{}</span>', STATE_COLOURS.get(job.state, "#444"), job.state
        )

    @admin.display(description="attempt")
    def attempts(self, job: Job) -> str:
        return f"{job.attempt}/{job.max_attempts}"

    @admin.display(description="finished")
    def finished_at(self, job: Job) -> Any:
        return job.completed_at or job.cancelled_at or job.discarded_at

    @admin.display(description="tags")
    def tag_list(self, job: Job) -> str:
        return ", ".join(job.tags)

    def get_search_results(
        self, request: HttpRequest, queryset: models.QuerySet[Any], search_term: str
    ) -> tuple[models.QuerySet[Any], bool]:
        """Match a job id exactly, a worker path in part, or a tag exactly."""
        term = search_term.strip()
        if not term:
            return queryset, False
        matches = queryset.filter(worker__icontains=term)
        tagged = cast(JobQuerySet, queryset).tagged(term)
        condition = models.Q(pk__in=matches.values("pk")) | models.Q(pk__in=tagged.values("pk"))
        if term.isdigit():
            condition |= models.Q(pk=int(term))
        return queryset.filter(condition), False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return super().changelist_view(request, {**(extra_context or {}), "state_counts": self._state_counts()})

    def _state_counts(self) -> list[tuple[str, int, str]]:
        """(state, count, filter URL) for every state, from one GROUP BY query."""
        counts = dict(Job.objects.order_by().values_list("state").annotate(count=Count("pk")))
        url = reverse("admin:django_oban_job_changelist")
        return [(state, counts.get(state, 0), f"{url}?state__exact={state}") for state in JobState.values]

    # -- job page ------------------------------------------------------------------

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The job page, read-only: jobs change through the buttons, never by editing fields."""
        if request.method == "POST":
            raise PermissionDenied
        read_only = {"show_save": False, "show_save_and_continue": False, "show_save_and_add_another": False}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **read_only})

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
        return format_html_join(
            "", "<div><strong>Attempt {} at {}</strong><pre>{}</pre></div>",
            ((error.get("attempt", "?"), error.get("at", ""), error.get("error", json.dumps(error, indent=2)))
             for error in job.errors if isinstance(error, dict)),
        )

    def get_change_actions(self, request: HttpRequest, object_id: str, form_url: str) -> list[str]:
        """The buttons this user may use on this job in its current state."""
        job = Job.objects.filter(pk=object_id).only("state").first()
        return [name for name in self.change_actions if job is not None and self._button_allowed(request, name, job)]

    def _button_allowed(self, request: HttpRequest, name: str, job: Job) -> bool:
        allowed: dict[str, bool] = {
            "cancel_job": self.has_cancel_permission(request) and job.state not in SKIPPED_STATES["cancel"][0],
            "retry_job": self.has_retry_permission(request) and job.state not in SKIPPED_STATES["retry"][0],
            "run_now": self.has_change_permission(request) and job.state in (JobState.SCHEDULED, JobState.RETRYABLE),
            "delete_job": self.has_delete_permission(request, job) and job.state not in SKIPPED_STATES["delete"][0],
        }
        return allowed[name]

    def _button(self, request: HttpRequest, job: Job, name: str, run: Any, done: str) -> HttpResponse | None:
        if not self.has_view_permission(request, job) or name not in self._permitted_buttons(request):
            raise PermissionDenied
        if not self._button_allowed(request, name, job):
            self.message_user(request, f"Job {job.pk} is {job.state}: nothing to do.", messages.WARNING)
            return None
        with transaction.atomic():
            run()
            _log(request, [job], DELETION if name == "delete_job" else CHANGE, done)
        self.message_user(request, f"Job {job.pk} {done}.", messages.SUCCESS)
        if name == "delete_job":
            return HttpResponseRedirect(reverse("admin:django_oban_job_changelist"))
        return None

    def _permitted_buttons(self, request: HttpRequest) -> set[str]:
        permitted = {"cancel_job": self.has_cancel_permission(request), "retry_job": self.has_retry_permission(request),
                     "run_now": self.has_change_permission(request), "delete_job": self.has_delete_permission(request)}
        return {name for name, ok in permitted.items() if ok}

    @action(label="Cancel", description="Cancel this job", methods=("POST",), button_type="form")
    def cancel_job(self, request: HttpRequest, job: Job) -> HttpResponse | None:
        return self._button(request, job, "cancel_job", job.cancel, "cancelled")

    @action(label="Retry", description="Make this job available now", methods=("POST",), button_type="form")
    def retry_job(self, request: HttpRequest, job: Job) -> HttpResponse | None:
        return self._button(request, job, "retry_job", job.retry, "retried")

    @action(label="Run now", description="Run this job now", methods=("POST",), button_type="form")
    def run_now(self, request: HttpRequest, job: Job) -> HttpResponse | None:
        return self._button(request, job, "run_now", lambda: job.update({"schedule_in": 0}), "scheduled to run now")

    @action(label="Delete", description="Delete this job", methods=("POST",), button_type="form")
    def delete_job(self, request: HttpRequest, job: Job) -> HttpResponse | None:
        return self._button(request, job, "delete_job", lambda: Job.objects.filter(pk=job.pk).delete(), "deleted")

    # -- permissions -----------------------------------------------------------------

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("django_oban.cancel_job")  # type: ignore[union-attr]

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("django_oban.retry_job")  # type: ignore[union-attr]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    # -- bulk actions ------------------------------------------------------------------

    @admin.action(description="Cancel selected jobs", permissions=["cancel"])
    def cancel_jobs(self, request: HttpRequest, queryset: JobQuerySet) -> None:
        self._run(request, queryset, "cancel", lambda jobs: jobs.cancel())

    @admin.action(description="Retry selected jobs", permissions=["retry"])
    def retry_jobs(self, request: HttpRequest, queryset: JobQuerySet) -> None:
        self._run(request, queryset, "retry", lambda jobs: jobs.retry())

    @admin.action(description="Delete selected jobs", permissions=["delete"])
    def delete_jobs(self, request: HttpRequest, queryset: JobQuerySet) -> HttpResponse | None:
        """Ask for confirmation first, like Django's ``delete_selected``; ``post=yes`` confirms."""
        if request.POST.get("post") == "yes":
            self._run(request, queryset, "delete", lambda jobs: jobs.delete()[0])
            return None
        skipped = queryset.skipped_by("delete")
        context = {
            **self._action_context(request, queryset, "delete_jobs", "Delete jobs: are you sure?"),
            "deletable_count": queryset.count() - sum(skipped.values()),
            "skipped": self._skipped_lines("delete", skipped),
        }
        return TemplateResponse(request, "admin/django_oban/job/delete_jobs.html", context)

    @admin.action(description="Update selected jobs", permissions=["change"])
    def update_jobs(self, request: HttpRequest, queryset: JobQuerySet) -> HttpResponse | None:
        """Show the update form; ``apply=1`` with valid values updates every selected job or none."""
        applying = request.POST.get("apply") == "1"
        form = JobUpdateForm(request.POST if applying else None, jobs=queryset)
        if applying and form.is_valid():
            try:
                with transaction.atomic():
                    targets = list(queryset.order_by().only("pk", "worker", "state"))
                    count = form.update().apply(queryset)
                    _log(request, targets, CHANGE, _describe_update(form))
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                self.message_user(request, ngettext("Updated %d job.", "Updated %d jobs.", count) % count,
                                  messages.SUCCESS)
                return None
        context = {
            **self._action_context(request, queryset, "update_jobs", "Update jobs"),
            "form": form,
            "count": queryset.count(),
        }
        return TemplateResponse(request, "admin/django_oban/job/update_jobs.html", context)

    def _run(self, request: HttpRequest, queryset: JobQuerySet, operation: str, write: Any) -> None:
        """Apply ``write`` to the set in one statement, log it, and report changed and skipped counts."""
        skipped = queryset.skipped_by(operation)
        skip_states = SKIPPED_STATES[operation][0]
        with transaction.atomic():
            targets = list(queryset.exclude(state__in=skip_states).order_by().only("pk", "worker", "state"))
            count = write(queryset)
            _log(request, targets, DELETION if operation == "delete" else CHANGE, _PAST[operation])
        past = _PAST[operation]
        message = ngettext("%(count)d job %(past)s.", "%(count)d jobs %(past)s.", count) % {"count": count, "past": past}
        lines = self._skipped_lines(operation, skipped)
        if lines:
            message += " " + "; ".join(lines) + "."
        self.message_user(request, message, messages.SUCCESS if count else messages.WARNING)

    @staticmethod
    def _skipped_lines(operation: str, skipped: dict[str, int]) -> list[str]:
        reason = SKIPPED_STATES[operation][1]
        return [
            ngettext("%(count)d %(state)s job skipped (%(reason)s)", "%(count)d %(state)s jobs skipped (%(reason)s)",
                     count) % {"count": count, "state": state, "reason": reason}
            for state, count in skipped.items()
        ]

    def _action_context(self, request: HttpRequest, queryset: JobQuerySet, action: str, title: str) -> dict[str, Any]:
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
        }


def _pre(value: Any) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


def _describe_update(form: JobUpdateForm) -> str:
    changes = {**form.changes(), **({"add_tags": form.tags_to_add()} if form.tags_to_add() else {})}
    return "Updated " + ", ".join(f"{field}={value}" for field, value in changes.items())


def _log(request: HttpRequest, jobs: Iterable[Job], flag: int, message: str) -> None:
    """One ``LogEntry`` per job, written in one bulk insert."""
    jobs = list(jobs)
    if not jobs:
        return
    message = message[0].upper() + message[1:] + " via the admin."
    if hasattr(LogEntry.objects, "log_actions"):  # Django 5.1+
        LogEntry.objects.log_actions(cast(int, request.user.pk), jobs, flag, message)
        return
    content_type = ContentType.objects.get_for_model(Job)
    LogEntry.objects.bulk_create([
        LogEntry(user_id=request.user.pk, content_type=content_type, object_id=str(job.pk),
                 object_repr=str(job)[:200], action_flag=flag, change_message=message, action_time=timezone.now())
        for job in jobs
    ])

