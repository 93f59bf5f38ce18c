"""The Queues page at ``<job list>/queues/``: every queue's jobs by state and each node's view of it,
with Pause / Resume / Scale buttons for users holding ``django_oban.control_queue``.

A button posts to the same URL and gets a confirmation page; posting that (``post=yes``) makes
the change through ``django_oban.queues``, records a ``LogEntry`` and says what happened.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import ngettext

from ..managing import managed_by
from ..models import Job
from ..queues import CHANGED, MAX_LIMIT, change_queue, describe_change, queue_status
from ..states import JobState
from .changelist import job_list_url
from .permissions import JobModelAdmin

PAGE_TEMPLATE = "admin/django_oban/job/queues.html"
CONFIRM_TEMPLATE = "admin/django_oban/job/queue_confirm.html"


class QueuesPageMixin(JobModelAdmin):
    """Adds the Queues page (``admin:django_oban_job_queues``): see the module's docstring."""

    def get_urls(self) -> list[URLPattern]:
        page = path("queues/", self.admin_site.admin_view(self.queues_view), name="django_oban_job_queues")
        return [page, *super().get_urls()]  # before the job page's catch-all ``<path:object_id>/``

    def has_control_queue_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("django_oban.control_queue")

    def queues_view(self, request: HttpRequest) -> HttpResponse:
        """The page (GET), a change's confirmation (POST), or the change once confirmed (``post=yes``)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return TemplateResponse(request, PAGE_TEMPLATE, {**self._context(request, "Queues"),
                                                            "queues": queue_rows(queue_status()),
                                                            "can_control": self.has_control_queue_permission(request),
                                                            "max_limit": MAX_LIMIT})
        if not self.has_control_queue_permission(request):
            raise PermissionDenied
        change = posted_change(request.POST)
        if isinstance(change, str):
            self.message_user(request, change, messages.ERROR)
        elif request.POST.get("post") == "yes":
            self._apply(request, change)
        else:
            return TemplateResponse(request, CONFIRM_TEMPLATE, {**self._context(request, "Are you sure?"),
                                                               "change": change, "summary": describe(change)})
        return HttpResponseRedirect(reverse("admin:django_oban_job_queues"))

    def _apply(self, request: HttpRequest, change: dict[str, Any]) -> None:
        """Make the change and log it in one transaction; a refused change is a message, nothing changed."""
        operation, queue, node, limit = change["operation"], change["queue"], change["node"], change["limit"]
        try:
            with managed_by("admin", request.user), transaction.atomic():
                count = change_queue(operation, queue, node=node, limit=limit)
                LogEntry.objects.create(
                    user_id=cast(int, request.user.pk), content_type=ContentType.objects.get_for_model(Job),
                    object_id=None, object_repr=f"queue {queue}"[:200], action_flag=CHANGE,
                    change_message=f"{describe(change)} via the admin.",
                )
        except (TypeError, ValueError) as exc:
            self.message_user(request, f"Nothing changed: {exc}", messages.ERROR)
            return
        nodes = ngettext("%(count)d live node runs it.", "%(count)d live nodes run it.", count) % {"count": count}
        self.message_user(request, f"{describe(change)}: {nodes}", messages.SUCCESS)

    def _context(self, request: HttpRequest, title: str) -> dict[str, Any]:
        return {**self.admin_site.each_context(request), "opts": self.model._meta, "title": title}


def posted_change(data: Any) -> dict[str, Any] | str:
    """The change a form posted (operation, queue, node or ``None``, limit or ``None``), or why it is not one."""
    operation, queue, node = data.get("operation"), data.get("queue", ""), data.get("node") or None
    if operation not in CHANGED:
        return "Nothing changed: no such queue operation."
    if not queue.strip():
        return "Nothing changed: no queue given."
    limit = None
    if operation == "scale":
        text = data.get("limit", "").strip()
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
            return f"Nothing changed: a queue's limit is a whole number from 1 to {MAX_LIMIT}, not {text[:20]!r}."
        limit = int(text)
    return {"operation": operation, "queue": queue, "node": node, "limit": limit}


def describe(change: dict[str, Any]) -> str:
    """``Paused queue 'mailers' on every node``, ``Scaled queue 'mailers' to 20 on node 'web-1'``."""
    return describe_change(change["operation"], change["queue"], change["node"], change["limit"])


def queue_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``queue_status()`` grouped by queue: its counts by state (with links to the job list) and its nodes."""
    queues: dict[str, dict[str, Any]] = {}
    for row in rows:
        name = row["queue"]
        if name not in queues:
            counts = [(state, row["counts"][state], job_list_url(queue=name, state=state)) for state in JobState.values]
            queues[name] = {"name": name, "counts": counts, "nodes": []}
        queues[name]["nodes"].append(row)
    return list(queues.values())
