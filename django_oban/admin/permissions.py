"""Who may operate jobs in the admin: the custom ``cancel_job`` and ``retry_job`` permissions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin
from django.http import HttpRequest

from ..models import Job

if TYPE_CHECKING:
    JobModelAdmin = admin.ModelAdmin[Job]
else:
    JobModelAdmin = admin.ModelAdmin


class JobPermissions(JobModelAdmin):
    """``has_<name>_permission`` for the custom permissions, as Django's admin looks them up; jobs are never added."""

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("django_oban.cancel_job")

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("django_oban.retry_job")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_permission_named(self, request: HttpRequest, name: str) -> bool:
        """``has_<name>_permission(request)``, as Django checks an action's ``permissions``."""
        check: bool = getattr(self, f"has_{name}_permission")(request)
        return check
