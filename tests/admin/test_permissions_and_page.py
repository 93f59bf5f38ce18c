"""Who may do what, the job page and its buttons, the change list, select-across."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.messages import get_messages
from django.test import Client
from model_bakery import baker

from django_oban.models import Job
from django_oban.states import JobState
from tests.admin.conftest import CHANGELIST
from tests.conftest import make_job, snapshot

pytestmark = pytest.mark.django_db

ACTION_PERMISSIONS = {
    "cancel_jobs": "cancel_job",
    "retry_jobs": "retry_job",
    "delete_jobs": "delete_job",
    "update_jobs": "change_job",
}
BUTTON_PERMISSIONS = {"cancel_job": "cancel_job", "retry_job": "retry_job", "run_now": "change_job", "delete_job": "delete_job"}


def button_url(job: Job, tool: str) -> str:
    return f"{CHANGELIST}{job.pk}/actions/{tool}/"


def texts(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.mark.parametrize("permission", [None, *ACTION_PERMISSIONS.values()])
def test_each_action_is_offered_only_with_its_permission(staff_with: Callable[..., Client], permission: str) -> None:
    client = staff_with("view_job", *([permission] if permission else []))
    action_form = client.get(CHANGELIST).context["action_form"]
    choices = [value for value, _ in action_form.fields["action"].choices if value] if action_form else []
    assert choices == [action for action, needed in ACTION_PERMISSIONS.items() if needed == permission]


@pytest.mark.parametrize("action", list(ACTION_PERMISSIONS))
def test_a_forged_action_post_without_permission_changes_nothing(
    staff_with: Callable[..., Client], action: str
) -> None:
    others = [perm for perm in ACTION_PERMISSIONS.values() if perm != ACTION_PERMISSIONS[action]]
    client = staff_with("view_job", *others)
    jobs = [make_job(JobState.DISCARDED), make_job(JobState.AVAILABLE)]
    before = snapshot()
    data = {"action": action, "_selected_action": [job.pk for job in jobs], "post": "yes", "apply": "1", "priority": "1"}
    response = client.post(CHANGELIST, data, follow=True)
    assert response.status_code == 200
    assert texts(response) == ["No action selected."]
    assert snapshot() == before
    assert not LogEntry.objects.exists()


def test_users_without_view_permission_are_refused(staff_with: Callable[..., Client]) -> None:
    job = make_job(JobState.DISCARDED)
    client = staff_with()
    assert client.get(CHANGELIST).status_code == 403
    assert client.post(CHANGELIST, {"action": "retry_jobs", "_selected_action": [job.pk]}).status_code == 403
    assert Job.objects.get().state == JobState.DISCARDED


def test_the_job_page_is_read_only_and_pretty_prints_data(operator: Client) -> None:
    error = {"at": "2030-01-01T00:00:00Z", "attempt": 1, "error": "Traceback (most recent call last):\n  boom"}
    job = make_job(JobState.DISCARDED, args={"to": "a@example.com"}, errors=[error])
    response = operator.get(f"{CHANGELIST}{job.pk}/change/")
    content = response.content.decode()
    assert response.status_code == 200
    assert "<pre>Traceback (most recent call last):\n  boom</pre>" in content
    assert '<pre>{\n  &quot;to&quot;: &quot;a@example.com&quot;\n}</pre>' in content
    assert 'name="_save"' not in content
    before = snapshot()
    response = operator.post(f"{CHANGELIST}{job.pk}/change/", {"state": "available", "queue": "x", "worker": "x.Y"})
    assert response.status_code == 403
    assert snapshot() == before


@pytest.mark.parametrize(
    ("state", "buttons"),
    [
        (JobState.SCHEDULED, ["cancel_job", "retry_job", "run_now", "delete_job"]),
        (JobState.EXECUTING, ["cancel_job"]),
        (JobState.DISCARDED, ["retry_job", "delete_job"]),
        (JobState.AVAILABLE, ["cancel_job", "delete_job"]),
    ],
)
def test_the_job_page_shows_the_buttons_that_apply(operator: Client, state: str, buttons: list[str]) -> None:
    job = make_job(state)
    tools = [tool["name"] for tool in operator.get(f"{CHANGELIST}{job.pk}/change/").context["objectactions"]]
    assert tools == buttons


@pytest.mark.parametrize("permission", list(BUTTON_PERMISSIONS.values()))
def test_buttons_need_their_permission(staff_with: Callable[..., Client], permission: str) -> None:
    job = make_job(JobState.SCHEDULED)
    client = staff_with("view_job", permission)
    tools = [tool["name"] for tool in client.get(f"{CHANGELIST}{job.pk}/change/").context["objectactions"]]
    assert tools == [tool for tool, needed in BUTTON_PERMISSIONS.items() if needed == permission]


@pytest.mark.parametrize("tool", list(BUTTON_PERMISSIONS))
def test_a_forged_button_post_without_permission_is_forbidden(staff_with: Callable[..., Client], tool: str) -> None:
    job = make_job(JobState.SCHEDULED)
    client = staff_with("view_job", *(perm for perm in BUTTON_PERMISSIONS.values() if perm != BUTTON_PERMISSIONS[tool]))
    before = snapshot()
    assert client.post(button_url(job, tool)).status_code == 403
    assert snapshot() == before
    assert not LogEntry.objects.exists()


@pytest.mark.parametrize(
    ("tool", "state", "expected", "message"),
    [
        ("cancel_job", JobState.SCHEDULED, JobState.CANCELLED, "cancelled"),
        ("retry_job", JobState.DISCARDED, JobState.AVAILABLE, "retried"),
        ("run_now", JobState.SCHEDULED, JobState.AVAILABLE, "scheduled to run now"),
    ],
)
def test_buttons_change_the_job_and_log_it(operator: Client, tool: str, state: str, expected: str, message: str) -> None:
    job = make_job(state)
    response = operator.post(button_url(job, tool), follow=True)
    assert texts(response) == [f"Job {job.pk} {message}."]
    job.refresh_from_db()
    assert job.state == expected
    entry = LogEntry.objects.get()
    assert (entry.object_id, entry.action_flag) == (str(job.pk), CHANGE)


def test_the_delete_button_asks_for_confirmation_then_deletes_and_returns_to_the_list(operator: Client) -> None:
    job = make_job(JobState.COMPLETED, worker="app.workers.Report")
    before = snapshot()
    response = operator.post(button_url(job, "delete_job"))
    assert response.status_code == 200
    assert response.templates[0].name == "admin/django_oban/job/delete_jobs.html"
    content = response.content.decode()
    assert "1 job will be deleted permanently." in content
    assert f'<a href="/admin/django_oban/job/{job.pk}/change/">app.workers.Report #{job.pk} (completed)</a>' in content
    assert f'<form method="post" action="{button_url(job, "delete_job")}">' in content
    assert 'name="post" value="yes"' in content
    assert snapshot() == before

    response = operator.post(button_url(job, "delete_job"), {"post": "yes"})
    assert response.status_code == 302 and response["Location"] == "/admin/django_oban/job/"
    assert not Job.objects.exists()
    entry = LogEntry.objects.get()
    assert (entry.action_flag, entry.object_id, entry.change_message) == (DELETION, str(job.pk), "Deleted via the admin.")


def test_a_forged_confirmed_delete_without_permission_is_forbidden(staff_with: Callable[..., Client]) -> None:
    job = make_job(JobState.COMPLETED)
    client = staff_with("view_job", "change_job", "cancel_job", "retry_job")
    assert client.post(button_url(job, "delete_job"), {"post": "yes"}).status_code == 403
    assert client.post(f"{CHANGELIST}{job.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Job.objects.filter(pk=job.pk).exists()
    assert not LogEntry.objects.exists()


def test_the_job_page_has_no_unconfirmed_delete_link(operator: Client) -> None:
    job = make_job(JobState.COMPLETED)
    content = operator.get(f"{CHANGELIST}{job.pk}/change/").content.decode()
    assert 'class="deletelink"' not in content
    assert 'data-tool-name="delete_job"' in content


def test_djangos_delete_url_follows_the_same_rules(operator: Client) -> None:
    executing, done = make_job(JobState.EXECUTING), make_job(JobState.COMPLETED)
    before = snapshot()
    response = operator.post(f"{CHANGELIST}{executing.pk}/delete/", {"post": "yes"}, follow=True)
    assert texts(response) == [f"Job {executing.pk} is executing: nothing to do."]
    assert snapshot() == before

    response = operator.get(f"{CHANGELIST}{done.pk}/delete/")
    assert response.templates[0].name == "admin/django_oban/job/delete_jobs.html"
    assert snapshot() == before
    response = operator.post(f"{CHANGELIST}{done.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert list(Job.objects.values_list("pk", flat=True)) == [executing.pk]
    assert LogEntry.objects.get().action_flag == DELETION


@pytest.mark.parametrize(
    ("tool", "state", "data"),
    [
        ("delete_job", JobState.EXECUTING, {}),
        ("delete_job", JobState.EXECUTING, {"post": "yes"}),
        ("cancel_job", JobState.COMPLETED, {}),
        ("retry_job", JobState.AVAILABLE, {}),
        ("run_now", JobState.AVAILABLE, {}),
    ],
)
def test_a_button_that_no_longer_applies_changes_nothing(
    operator: Client, tool: str, state: str, data: dict[str, str]
) -> None:
    job = make_job(state)
    before = snapshot()
    response = operator.post(button_url(job, tool), data, follow=True)
    assert texts(response) == [f"Job {job.pk} is {state}: nothing to do."]
    assert snapshot() == before
    assert not LogEntry.objects.exists()


def test_buttons_refuse_get(operator: Client) -> None:
    job = make_job(JobState.SCHEDULED)
    assert operator.get(button_url(job, "cancel_job")).status_code == 405


def test_change_list_shows_columns_and_state_counts(operator: Client) -> None:
    make_job(JobState.DISCARDED, worker="app.workers.SendEmail", tags=["mail"], attempt=2, max_attempts=5)
    make_job(JobState.DISCARDED)
    make_job(JobState.AVAILABLE)
    content = operator.get(CHANGELIST).content.decode()
    assert '<span title="app.workers.SendEmail">SendEmail</span>' in content
    assert "2/5" in content
    assert 'class="oban-badge"' in content
    assert 'href="/admin/django_oban/job/?state__exact=discarded" class="state-discarded">discarded<span class="count">2</span>' in content
    assert 'class="state-executing">executing<span class="count">0</span>' in content


def test_state_filter(operator: Client) -> None:
    failed = make_job(JobState.DISCARDED)
    make_job(JobState.AVAILABLE)
    response = operator.get(CHANGELIST, {"state__exact": "discarded"})
    assert [job.pk for job in response.context["cl"].result_list] == [failed.pk]


def test_the_list_never_counts_the_whole_table(operator: Client) -> None:
    make_job()
    assert operator.get(CHANGELIST, {"q": "nothing"}).context["cl"].show_full_result_count is False


@pytest.mark.parametrize(
    ("action", "state", "extra", "expected"),
    [
        ("retry_jobs", JobState.DISCARDED, {}, "10000 jobs retried."),
        ("cancel_jobs", JobState.AVAILABLE, {}, "10000 jobs cancelled."),
        ("delete_jobs", JobState.DISCARDED, {"post": "yes"}, "10000 jobs deleted."),
        ("update_jobs", JobState.DISCARDED, {"apply": "1", "priority": "4", "schedule_in": "1h"},
         "10000 jobs updated."),
        # Adding tags is one UPDATE on PostgreSQL; SQLite reads and writes each row.
        pytest.param("update_jobs", JobState.DISCARDED, {"apply": "1", "priority": "4", "add_tags": "bulk"},
                     "10000 jobs updated.", marks=pytest.mark.postgres),
    ],
)
def test_select_across_ten_thousand_jobs_runs_in_a_few_queries(
    operator: Client, django_assert_max_num_queries: Any, action: str, state: str, extra: dict[str, str], expected: str
) -> None:
    jobs = baker.prepare(Job, worker="app.workers.Report", queue="default", state=state, _quantity=10_000)
    Job.objects.bulk_create(jobs, batch_size=2000)
    make_job(JobState.COMPLETED, queue="reports")
    first_page = list(Job.objects.filter(queue="default").order_by("-pk").values_list("pk", flat=True)[:100])
    data = {"action": action, "_selected_action": first_page, "select_across": "1", **extra}
    # Session, user and permissions, the paginator's count, the skipped-by-state count, the
    # content type, one INSERT … SELECT of the log entries, one UPDATE/DELETE, savepoints.
    with django_assert_max_num_queries(12):
        response = operator.post(f"{CHANGELIST}?queue__exact=default", data)
    assert response.status_code == 302
    assert texts(operator.get(CHANGELIST)) == [expected]
    assert Job.objects.filter(queue="reports", state=JobState.COMPLETED).count() == 1
    assert LogEntry.objects.count() == 10_000
    assert LogEntry.objects.filter(object_id=str(first_page[0])).get().object_repr == (
        f"app.workers.Report #{first_page[0]} ({state})"
    )
    if action == "update_jobs":
        assert set(Job.objects.filter(queue="default").values_list("priority", flat=True)) == {4}


def test_a_button_needs_view_permission_too(staff_with: Callable[..., Client]) -> None:
    job = make_job(JobState.SCHEDULED)
    assert staff_with("cancel_job").post(button_url(job, "cancel_job")).status_code == 403
    assert Job.objects.get().state == JobState.SCHEDULED
