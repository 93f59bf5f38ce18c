"""Tasks' jobs in the admin: listed under the task's name, managed by the same actions."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from django_oban.backends import TaskCancelled
from django_oban.tasks.compat import TaskResultStatus
from django_oban.testing import drain_queue

from . import tasks

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/django_oban/job/"


@pytest.fixture
def admin() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root"))
    return client


def test_the_job_list_names_the_task_and_filters_by_it(admin: Client) -> None:
    added = tasks.add.enqueue(1, 2)
    echoed = tasks.echo.enqueue()
    page = admin.get(CHANGELIST).content.decode()
    assert "tests.backends.tasks.add" in page and "tests.backends.tasks.echo" in page
    page = admin.get(CHANGELIST, {"worker": tasks.add.module_path}).content.decode()
    assert f"/{added.id}/change/" in page and f"/{echoed.id}/change/" not in page


def test_cancel_and_retry_actions_change_the_tasks_result(admin: Client) -> None:
    result = tasks.add.enqueue(1, 2)
    admin.post(CHANGELIST, {"action": "cancel_jobs", "_selected_action": [result.id]})
    result.refresh()
    assert result.status == TaskResultStatus.FAILED and result.errors[-1].exception_class is TaskCancelled
    admin.post(CHANGELIST, {"action": "retry_jobs", "_selected_action": [result.id]})
    drain_queue()
    result.refresh()
    assert (result.status, result.return_value) == (TaskResultStatus.SUCCESSFUL, 3)
