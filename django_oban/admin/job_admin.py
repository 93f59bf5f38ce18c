"""``JobAdmin``: the job list, the actions on selected jobs and the job page, put together."""

from __future__ import annotations

from django.contrib import admin

from ..models import Job
from .actions import BulkActionsMixin
from .changelist import JobListMixin
from .dashboard import DashboardMixin
from .filters import CronFilter, PriorityFilter, QueueFilter, UniqueFilter, WorkerFilter
from .job_page import BUTTONS, JobPageMixin
from .queues_page import QueuesPageMixin


@admin.register(Job)
class JobAdmin(QueuesPageMixin, DashboardMixin, JobPageMixin, BulkActionsMixin, JobListMixin):
    """Operate jobs: filter and search them, cancel / retry / delete / update in bulk or one by one."""

    list_display = ("id", "short_worker", "queue", "state_badge", "attempts", "priority",
                    "inserted_at", "scheduled_at", "attempted_at", "finished_at", "tag_list")
    list_filter = ("state", ("queue", QueueFilter), ("worker", WorkerFilter), ("priority", PriorityFilter),
                   "inserted_at", UniqueFilter, CronFilter)
    search_fields = ("worker",)
    search_help_text = ("A job id, part of a worker path, or a tag; or filters, ANDed: id:1,2 state:discarded "
                        "priority:0 queue:mailers worker:SendEmail node:web-1 tags:a,b args.KEY:value "
                        "meta.KEY:value (commas: any of the values).")
    show_full_result_count = False
    if hasattr(admin, "ShowFacets"):  # Django 5.0+: facet counts would count the whole table per filter
        show_facets = admin.ShowFacets.NEVER
    list_per_page = 100
    ordering = ("-id",)
    actions = ("cancel_jobs", "retry_jobs", "delete_jobs", "update_jobs")
    change_actions = tuple(BUTTONS)
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
