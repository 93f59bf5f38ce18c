from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

CHANGELIST = "/admin/django_oban/job/"


@pytest.fixture
def staff_with() -> Callable[..., Client]:
    """A logged-in client for a staff user holding only the given django_oban permissions."""

    def make(*codenames: str) -> Client:
        # No password: force_login needs none, and hashing one costs a quarter of a second per test.
        user = User.objects.create_user(f"staff-{'-'.join(codenames) or 'none'}", is_staff=True)
        permissions = Permission.objects.filter(content_type__app_label="django_oban", codename__in=codenames)
        user.user_permissions.set(permissions)
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def operator(staff_with: Callable[..., Client]) -> Client:
    """A staff user with every job permission."""
    return staff_with("view_job", "change_job", "delete_job", "cancel_job", "retry_job")
