"""The job dashboard: a live view of the queues at ``<job list>/dashboard/``, for users who may view jobs.

The page draws ``django_oban.dashboard.snapshot()`` (counts, running jobs, the last hour's
throughput and timings) and fetches its panels again every ``dashboard_refresh_seconds``
(``?panels=1`` answers the panels alone); filters by queue, worker and node are a plain form.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from ..counting import total
from ..dashboard import Snapshot, snapshot
from ..models import Job, Node
from ..querysets import JobQuerySet
from ..states import JobState
from .changelist import STATE_COLOURS, job_list_url
from .charts import throughput_chart, timing_chart
from .permissions import JobModelAdmin

PAGE_TEMPLATE = "admin/django_oban/job/dashboard.html"
PANELS_TEMPLATE = "admin/django_oban/job/_dashboard_panels.html"


class DashboardFilters(forms.Form):
    """The queue, worker and node to narrow the dashboard to; each one of those that exist, or blank."""

    queue = forms.ChoiceField(required=False)
    worker = forms.ChoiceField(required=False)
    node = forms.ChoiceField(required=False)

    def __init__(self, data: Any, *, using: str) -> None:
        super().__init__(data)
        nodes = Node.objects.using(using).order_by("name").values_list("name", flat=True).distinct()
        jobs = Job.objects.db_manager(using)
        for name, values in (("queue", jobs.queue_names()), ("worker", jobs.worker_names()), ("node", nodes)):
            field: Any = self.fields[name]
            field.choices = [("", f"every {name}"), *((value, value) for value in values)]


class DashboardMixin(JobModelAdmin):
    """Adds the dashboard's URL (``admin:django_oban_job_dashboard``) and view."""

    #: How often the page fetches its panels again.
    dashboard_refresh_seconds = 5

    def get_urls(self) -> list[URLPattern]:
        dashboard = path("dashboard/", self.admin_site.admin_view(self.dashboard_view),
                         name="django_oban_job_dashboard")
        return [dashboard, *super().get_urls()]  # before the job page's catch-all ``<path:object_id>/``

    def dashboard_view(self, request: HttpRequest) -> TemplateResponse:
        """The dashboard page, or its panels alone with ``?panels=1``; a filter naming nothing that exists is a 400."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        jobs: JobQuerySet = self.get_queryset(request)  # type: ignore[assignment]
        form = DashboardFilters(request.GET, using=jobs.db)
        context: dict[str, Any] = {**self.admin_site.each_context(request), "opts": self.model._meta,
                                   "title": "Job dashboard", "form": form,
                                   "refresh_seconds": self.dashboard_refresh_seconds}
        valid = form.is_valid()
        if valid:
            filters = {name: value for name, value in form.cleaned_data.items() if value}
            narrowed = jobs.filter(**{name: filters[name] for name in ("queue", "worker") if name in filters})
            context.update(panels(snapshot(narrowed, node=filters.get("node")), filters))
        template = PANELS_TEMPLATE if request.GET.get("panels") else PAGE_TEMPLATE
        return TemplateResponse(request, template, context, status=200 if valid else 400)


def panels(data: Snapshot, filters: dict[str, str]) -> dict[str, Any]:
    """The template context of the panels: tables with links to the job list, and the charts."""
    narrowing = {name: value for name, value in filters.items() if name != "node"}

    def link(**equal: str) -> str:
        return job_list_url(**{**narrowing, **equal})

    counts = [(queue, link(queue=queue), [(by_state[state], link(queue=queue, state=state))
                                          for state in JobState.values])
              for queue, by_state in data.counts.items()]
    totals = [total(by_state[state] for by_state in data.counts.values()) for state in JobState.values]
    return {
        "now": data.now,
        "states": [(state, STATE_COLOURS[state]) for state in JobState.values],
        "counts": counts,
        "totals": totals,
        "running": [(node, list(queues.items()), sum(queues.values())) for node, queues in data.running.items()],
        "finished": sum(sum(counts.values()) for _, counts in data.throughput),
        "throughput": throughput_chart(data.throughput),
        "by_queue": timing_chart(data.by_queue),
        "by_worker": timing_chart(data.by_worker),
    }
