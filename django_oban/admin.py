"""The ``Job`` admin: a read-only job page with buttons, and set-based bulk actions.

Built to stay fast on a table of millions of jobs: the page never counts the whole table
more than once (the counts by state, one ``GROUP BY`` on the ``(state, queue)`` index, also
give the paginator its total), the queue and worker filters list their values with an index
skip scan instead of ``SELECT DISTINCT`` over the table, and every action is one set-based
statement on the selection (with select-across, on the filtered queryset).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, cast

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.admin.utils import unquote
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connections, models, router, transaction
from django.db.models import Count, Value
from django.db.models.functions import Cast, Concat, Substr
from django.db.models.lookups import Exact
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.translation import ngettext
from django_object_actions import DjangoObjectActions, action  # type: ignore[import-untyped]

from .changes import PRIORITY_RANGE
from .forms import JobUpdateForm
from .models import Job
from .querysets import SKIPPED_STATES, JobQuerySet, _constraint_errors_as_validation_errors
from .states import JobState
from .updates import Update

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
#: How many jobs a delete confirmation page names (the rest are counted).
LISTED_JOBS = 20


# -- distinct values without scanning the table ----------------------------------------------


def distinct_workers(using: str) -> list[str]:
    """Every worker path in ``oban_jobs``, sorted: one index probe per worker (``oban_jobs_worker``)."""
    connection = connections[using]
    table, worker = connection.ops.quote_name(Job._meta.db_table), connection.ops.quote_name("worker")
    sql = (
        f"WITH RECURSIVE oban_workers(worker) AS ("
        f" SELECT MIN({worker}) FROM {table}"
        f" UNION ALL"
        f" SELECT (SELECT MIN({worker}) FROM {table} WHERE {worker} > oban_workers.worker)"
        f" FROM oban_workers WHERE oban_workers.worker IS NOT NULL"
        f") SELECT worker FROM oban_workers WHERE worker IS NOT NULL"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]


def distinct_queues(using: str) -> list[str]:
    """Every queue in ``oban_jobs``, sorted: one index probe per (state, queue) pair (``oban_jobs_state_queue``)."""
    connection = connections[using]
    quote = connection.ops.quote_name
    table, state, queue = quote(Job._meta.db_table), quote("state"), quote("queue")
    assert all(value.isalpha() and value.islower() for value in JobState.values)  # safe as SQL literals
    states = " UNION ALL ".join(f"SELECT '{value}' AS state" for value in JobState.values)
    sql = (
        f"WITH RECURSIVE oban_queues(state, queue) AS ("
        f" SELECT states.state, (SELECT MIN({queue}) FROM {table} WHERE {state} = states.state)"
        f" FROM ({states}) AS states"
        f" UNION ALL"
        f" SELECT oban_queues.state, (SELECT MIN({queue}) FROM {table}"
        f"  WHERE {state} = oban_queues.state AND {queue} > oban_queues.queue)"
        f" FROM oban_queues WHERE oban_queues.queue IS NOT NULL"
        f") SELECT DISTINCT queue FROM oban_queues WHERE queue IS NOT NULL ORDER BY queue"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]


class _ValuesFilter(admin.AllValuesFieldListFilter):  # type: ignore[misc]
    """Django's all-values filter, with the values from a cheap source instead of ``SELECT DISTINCT``."""

    def values(self, using: str) -> list[Any]:
        raise NotImplementedError

    def __init__(self, field: Any, request: HttpRequest, params: Any, model: Any, model_admin: Any,
                 field_path: str) -> None:
        super().__init__(field, request, params, model, model_admin, field_path)
        self.using = model_admin.get_queryset(request).db

    def choices(self, changelist: Any) -> Iterator[Any]:
        # Looked up only when the filter is shown (not when an action is posted).
        self.lookup_choices = self.values(self.using)  # type: ignore[assignment]
        yield from super().choices(changelist)


class QueueFilter(_ValuesFilter):
    def values(self, using: str) -> list[Any]:
        return distinct_queues(using)


class WorkerFilter(_ValuesFilter):
    def values(self, using: str) -> list[Any]:
        return distinct_workers(using)


class PriorityFilter(_ValuesFilter):
    def values(self, using: str) -> list[Any]:
        return list(PRIORITY_RANGE)


class _CountedPaginator(Paginator):
    """A paginator told its count when it is already known (from the counts by state)."""

    def __init__(self, *args: Any, known_count: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.known_count = known_count

    @cached_property
    def count(self) -> int:
        return self.known_count if self.known_count is not None else super().count


class StateCounts:
    """The count of jobs in each state, from one ``GROUP BY`` query, run when first needed.

    Iterating gives ``(state, count, URL of the list filtered to that state)`` for every state.
    """

    def __init__(self, jobs: models.QuerySet[Any]) -> None:
        self.jobs = jobs

    @cached_property
    def by_state(self) -> dict[str, int]:
        counts = dict(self.jobs.order_by().values_list("state").annotate(count=Count("pk")))
        return {state: counts.get(state, 0) for state in JobState.values}

    def __iter__(self) -> Iterator[tuple[str, int, str]]:
        url = reverse("admin:django_oban_job_changelist")
        return iter([(state, count, f"{url}?state__exact={state}") for state, count in self.by_state.items()])


@admin.register(Job)
class JobAdmin(DjangoObjectActions, admin.ModelAdmin):  # type: ignore[misc]
    """Operate jobs: filter and search them, cancel / retry / delete / update in bulk or one by one."""

    list_display = ("id", "short_worker", "queue", "state_badge", "attempts", "priority",
                    "inserted_at", "scheduled_at", "attempted_at", "finished_at", "tag_list")
    list_filter = ("state", ("queue", QueueFilter), ("worker", WorkerFilter), ("priority", PriorityFilter),
                   "inserted_at")
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
        colour = STATE_COLOURS.get(cast(JobState, job.state), "#444")
        return format_html('<span class="oban-badge" style="background:{}">{}</span>', colour, job.state)

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
        """Match a job id exactly, a worker path in part (case-insensitive), or a tag exactly.

        The worker paths containing the term are found in the short list of distinct workers,
        so the query filters on ``worker IN (…)`` (indexed) rather than scanning every row.
        """
        term = search_term.strip()
        if not term:
            return queryset, False
        condition = _tag_condition(queryset.db, term)
        workers = [worker for worker in distinct_workers(queryset.db) if term.casefold() in worker.casefold()]
        if workers:
            condition |= models.Q(worker__in=workers)
        number = term.removeprefix("#")
        if number.isascii() and number.isdigit() and int(number) < 2**63:
            condition |= models.Q(pk=int(number))
        return queryset.filter(condition), False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        counts = StateCounts(self.get_queryset(request))
        request._oban_state_counts = counts  # type: ignore[attr-defined]  # for get_paginator
        return super().changelist_view(request, {**(extra_context or {}), "state_counts": counts})

    def get_paginator(self, request: HttpRequest, queryset: models.QuerySet[Any], per_page: int, orphans: int = 0,
                      allow_empty_first_page: bool = True) -> Paginator:
        """Take the total from the counts by state when the list is unfiltered or filtered by state only.

        A page shows those counts anyway, so the table is counted once, not twice. (A posted
        action filtered by state counts that state alone, on the index: cheaper than all states.)
        """
        counts: StateCounts | None = getattr(request, "_oban_state_counts", None)
        known = None
        conditions: list[Any] = list(queryset.query.where.children)
        if counts is not None and not conditions:
            known = sum(counts.by_state.values())
        elif (counts is not None and request.method == "GET" and len(conditions) == 1
              and _is_state_equals(conditions[0])):
            known = counts.by_state.get(conditions[0].rhs, 0)
        return _CountedPaginator(queryset, per_page, orphans, allow_empty_first_page, known_count=known)

    # -- job page ------------------------------------------------------------------

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

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
            return cast(HttpResponse, super().delete_view(request, object_id, extra_context))
        response = self.delete_job(request, job)
        return response or HttpResponseRedirect(reverse("admin:django_oban_job_change", args=(job.pk,)))

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
        job = Job.objects.filter(pk=object_id).only("state").first()
        return [name for name in self.change_actions if job is not None and self._button_allowed(request, name, job)]

    def _button_allowed(self, request: HttpRequest, name: str, job: Job) -> bool:
        allowed: dict[str, bool] = {
            "cancel_job": self.has_cancel_permission(request) and job.state not in SKIPPED_STATES["cancel"][0],
            "retry_job": self.has_retry_permission(request) and job.state not in SKIPPED_STATES["retry"][0],
            "run_now": self.has_change_permission(request) and job.state in _RUN_NOW_STATES,
            "delete_job": self.has_delete_permission(request, job) and job.state not in SKIPPED_STATES["delete"][0],
        }
        return allowed[name]

    def _button(self, request: HttpRequest, job: Job, name: str, write: Any, done: str) -> HttpResponse | None:
        """Check permission and state, run ``write`` (returns the jobs changed, 0 or 1), log it, report it."""
        if not self.has_view_permission(request, job) or name not in self._permitted_buttons(request):
            raise PermissionDenied
        changed = 0
        if self._button_allowed(request, name, job):
            with transaction.atomic(using=router.db_for_write(Job)):
                changed = write(Job.objects.filter(pk=job.pk))
                if changed:
                    _log(request, [job], DELETION if name == "delete_job" else CHANGE, done)
        if not changed:
            state = Job.objects.filter(pk=job.pk).values_list("state", flat=True).first() or job.state
            self.message_user(request, f"Job {job.pk} is {state}: nothing to do.", messages.WARNING)
            return None
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
        return self._button(request, job, "cancel_job", lambda jobs: jobs.cancel(), "cancelled")

    @action(label="Retry", description="Make this job available now", methods=("POST",), button_type="form")
    def retry_job(self, request: HttpRequest, job: Job) -> HttpResponse | None:
        return self._button(request, job, "retry_job", lambda jobs: jobs.retry(), "retried")

    @action(label="Run now", description="Run this job now", methods=("POST",), button_type="form")
    def run_now(self, request: HttpRequest, job: Job) -> HttpResponse | None:
        def write(jobs: JobQuerySet) -> int:
            return len(jobs.filter(state__in=_RUN_NOW_STATES).update_many({"schedule_in": 0}))

        return self._button(request, job, "run_now", write, "scheduled to run now")

    @action(label="Delete", description="Delete this job (asks for confirmation)", methods=("POST",),
            button_type="form")
    def delete_job(self, request: HttpRequest, job: Job) -> HttpResponse | None:
        """Show a confirmation page like Django's; posting ``post=yes`` deletes the job."""
        if request.method == "POST" and request.POST.get("post") == "yes":
            return self._button(request, job, "delete_job", lambda jobs: jobs.delete()[0], "deleted")
        if not self.has_view_permission(request, job) or "delete_job" not in self._permitted_buttons(request):
            raise PermissionDenied
        if not self._button_allowed(request, "delete_job", job):
            self.message_user(request, f"Job {job.pk} is {job.state}: nothing to do.", messages.WARNING)
            return HttpResponseRedirect(reverse("admin:django_oban_job_change", args=(job.pk,)))
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
        skip_states = SKIPPED_STATES["delete"][0]
        skipped = queryset.skipped_by("delete")
        deletable = queryset.exclude(state__in=skip_states)
        deletable_count = deletable.count()
        context = {
            **self._action_context(request, queryset, "delete_jobs", "Delete jobs: are you sure?"),
            "deletable_count": deletable_count,
            "to_delete": list(deletable.order_by("-pk").only("pk", "worker", "state")[:LISTED_JOBS]),
            "more_to_delete": max(deletable_count - LISTED_JOBS, 0),
            "skipped": self._skipped_lines("delete", skipped),
            "skipped_jobs": list(queryset.filter(state__in=skip_states).order_by("-pk")
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
                with transaction.atomic(using=queryset.db):
                    _log_set(request, queryset, CHANGE, _describe_update(form))
                    count = _apply_update(queryset, form.update())
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                self.message_user(request, ngettext("%d job updated.", "%d jobs updated.", count) % count,
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
        with transaction.atomic(using=queryset.db):
            _log_set(request, queryset.exclude(state__in=skip_states), DELETION if operation == "delete" else CHANGE,
                     _PAST[operation])
            count = write(queryset)
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
            "back_url": request.get_full_path(),
        }


_RUN_NOW_STATES = (JobState.SCHEDULED, JobState.RETRYABLE)


def _is_state_equals(condition: Any) -> bool:
    return (
        isinstance(condition, Exact)
        and getattr(condition.lhs, "target", None) is Job._meta.get_field("state")
        and isinstance(condition.rhs, str)
    )


def _tag_condition(using: str, term: str) -> models.Q:
    """Jobs carrying the tag ``term`` (normalised), as ``JobQuerySet.tagged`` finds them."""
    tag = term.strip().lower()
    if connections[using].features.supports_json_field_contains:
        return models.Q(tags__contains=[tag])  # the GIN index oban_jobs_tags on PostgreSQL
    return models.Q(tags__icontains=json.dumps(tag))


def _pre(value: Any) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


def _error_parts(error: Any) -> tuple[Any, Any, str]:
    """(attempt, time, text) of one recorded error; anything unexpected is shown as JSON."""
    if isinstance(error, dict) and isinstance(error.get("error"), str):
        return error.get("attempt", "?"), error.get("at", ""), error["error"]
    if isinstance(error, dict):
        return error.get("attempt", "?"), error.get("at", ""), json.dumps(error, indent=2, ensure_ascii=False)
    return "?", "", json.dumps(error, indent=2, ensure_ascii=False)


def _describe_update(form: JobUpdateForm) -> str:
    changes = {**form.changes(), **({"add_tags": form.tags_to_add()} if form.tags_to_add() else {})}
    return "Updated " + ", ".join(f"{field}={value}" for field, value in changes.items())


def _apply_update(jobs: JobQuerySet, update: Update) -> int:
    """Write ``update`` to every job of the set in one ``UPDATE`` (no rows read back).

    On SQLite, adding tags reads and writes each job (``Update.apply``: no JSON set functions).
    """
    if update.add_tags and connections[jobs.db].vendor != "postgresql":
        return update.apply(jobs)
    values = JobQuerySet._update_values(update.changes, timezone.now())
    values.update(update.merge_expressions())
    with _constraint_errors_as_validation_errors(jobs.db):
        return jobs.order_by().update(**values)


def _message(message: str) -> str:
    return message[0].upper() + message[1:] + " via the admin."


def _log(request: HttpRequest, jobs: Iterable[Job], flag: int, message: str) -> None:
    """One ``LogEntry`` per job, written in one bulk insert."""
    content_type = ContentType.objects.get_for_model(Job)
    LogEntry.objects.bulk_create([
        LogEntry(user_id=cast(int, request.user.pk), content_type=content_type, object_id=str(job.pk),
                 object_repr=str(job)[:200], action_flag=flag, change_message=_message(message),
                 action_time=timezone.now())
        for job in jobs
    ], batch_size=1000)


def _log_set(request: HttpRequest, jobs: JobQuerySet, flag: int, message: str) -> None:
    """One ``LogEntry`` per job of the set, in one ``INSERT … SELECT`` (no rows pass through Python)."""
    if router.db_for_write(LogEntry) != jobs.db:
        _log(request, jobs.order_by().only("pk", "worker", "state").iterator(chunk_size=2000), flag, message)
        return
    log = LogEntry._meta
    content_type = ContentType.objects.get_for_model(Job)
    pk_text = Cast("pk", models.TextField())
    columns = {
        "action_time": Value(timezone.now(), output_field=log.get_field("action_time")),
        "user": Value(request.user.pk, output_field=log.get_field("user").target_field),
        "content_type": Value(content_type.pk, output_field=models.IntegerField()),
        "object_id": pk_text,
        "object_repr": Substr(
            Concat("worker", Value(" #"), pk_text, Value(" ("), "state", Value(")"), output_field=models.TextField()),
            1, log.get_field("object_repr").max_length,
        ),
        "action_flag": Value(flag, output_field=models.IntegerField()),
        "change_message": Value(_message(message), output_field=models.TextField()),
    }
    rows = jobs.order_by().annotate(**{f"oban_log_{name}": value for name, value in columns.items()})
    rows = rows.values(*(f"oban_log_{name}" for name in columns))
    compiler = rows.query.get_compiler(jobs.db)
    sql, params = compiler.as_sql()
    quote = connections[jobs.db].ops.quote_name
    # The compiler's SELECT list, in its order, names the LogEntry column of each value.
    names = [alias.removeprefix("oban_log_") for _, _, alias in compiler.select]
    assert sorted(names) == sorted(columns), names
    target = ", ".join(quote(cast("models.Field[Any, Any]", log.get_field(name)).column or name) for name in names)
    with connections[jobs.db].cursor() as cursor:
        cursor.execute(f"INSERT INTO {quote(log.db_table)} ({target}) {sql}", params)
