"""The admin's Queues page: what it shows, who may change what, the confirmation and the audit trail."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.test import override_settings
from django.utils import timezone

from django_oban.models import Node, QueueControl
from django_oban.signals import jobs_managed
from django_oban.states import JobState

from ..admin.conftest import CHANGELIST
from ..conftest import make_job

pytestmark = pytest.mark.django_db

PAGE = CHANGELIST + "queues/"


@pytest.fixture(autouse=True)
def queues():
    now = timezone.now()
    Node.objects.create(name="web-1", started_at=now, heartbeat_at=now,
                        queues={"mailers": {"limit": 5, "paused": False, "running": 2}})
    make_job(JobState.AVAILABLE, queue="mailers")
    with override_settings(OBAN={"QUEUES": {"default": 10, "mailers": 5}}):
        yield


def controls() -> set[tuple]:
    return set(QueueControl.objects.values_list("queue", "node", "paused", "limit"))


def test_the_job_list_links_to_the_page_which_shows_counts_and_each_nodes_view(staff_with) -> None:
    client = staff_with("view_job")
    assert f'href="{PAGE}"' in client.get(CHANGELIST).content.decode()
    page = client.get(PAGE)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-queue="mailers" data-node="web-1"' in html and 'data-queue="default" data-node=""' in html
    assert "no live node runs it" in html
    assert f'href="{CHANGELIST}?queue__exact=mailers&amp;state__exact=available"' in html
    assert 'name="operation"' not in html  # no buttons without control_queue


def test_a_user_without_control_queue_cannot_change_a_queue_even_by_a_forged_post(staff_with) -> None:
    client = staff_with("view_job", "change_job", "cancel_job", "retry_job")
    response = client.post(PAGE, {"operation": "pause", "queue": "mailers", "post": "yes"})
    assert response.status_code == 403
    assert controls() == set() and not LogEntry.objects.exists()
    assert staff_with().get(PAGE).status_code == 403  # not even the page without view permission


def test_a_button_asks_for_confirmation_then_changes_audits_and_reports(staff_with) -> None:
    client = staff_with("view_job", "control_queue")
    assert 'value="pause"' in client.get(PAGE).content.decode()
    confirm = client.post(PAGE, {"operation": "pause", "queue": "mailers", "node": ""})
    assert confirm.status_code == 200 and "Paused queue &#x27;mailers&#x27; on every node?" in confirm.content.decode()
    assert controls() == set()

    sent = []
    jobs_managed.connect(lambda **kwargs: sent.append(kwargs), weak=False, dispatch_uid="queues-admin-test")
    try:
        done = client.post(PAGE, {"operation": "pause", "queue": "mailers", "node": "", "post": "yes"}, follow=True)
    finally:
        jobs_managed.disconnect(dispatch_uid="queues-admin-test")
    assert [(s["sender"], s["source"], s["count"], s["user"].username) for s in sent] == [
        ("pause", "admin", 1, "staff-view_job-control_queue")
    ]
    assert controls() == {("mailers", "", True, None)}
    assert [str(m) for m in done.context["messages"]] == ["Paused queue 'mailers' on every node: 1 live node runs it."]
    entry = LogEntry.objects.get()
    assert (entry.action_flag, entry.object_repr) == (CHANGE, "queue mailers")
    assert entry.change_message == "Paused queue 'mailers' on every node via the admin."

    client.post(PAGE, {"operation": "scale", "queue": "mailers", "node": "web-1", "limit": "12", "post": "yes"})
    assert controls() == {("mailers", "", True, None), ("mailers", "web-1", None, 12)}
    assert LogEntry.objects.count() == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"operation": "pause", "queue": "nope"}, "Nothing changed: Unknown queue 'nope'"),
        ({"operation": "pause", "queue": "mailers", "node": "web-9"}, "Nothing changed: Unknown node 'web-9'"),
        ({"operation": "scale", "queue": "mailers", "limit": "0"}, "a whole number from 1 to 1000, not '0'"),
        ({"operation": "scale", "queue": "mailers", "limit": "1e3"}, "a whole number from 1 to 1000"),
        ({"operation": "drop", "queue": "mailers"}, "no such queue operation"),
        ({"operation": "resume", "queue": " "}, "no queue given"),
    ],
)
def test_bad_input_is_a_message_and_changes_nothing(staff_with, data, message) -> None:
    client = staff_with("view_job", "control_queue")
    response = client.post(PAGE, {**data, "post": "yes"}, follow=True)
    assert response.status_code == 200
    assert any(message in str(m) for m in response.context["messages"]), list(response.context["messages"])
    assert controls() == set() and not LogEntry.objects.exists()
