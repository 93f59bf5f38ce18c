"""Bulk actions on the change list: cancel, retry, delete (confirmed) and update (a form)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from django_oban.models import Job
from django_oban.states import JobState
from tests.admin.conftest import CHANGELIST
from tests.conftest import make_job, snapshot

pytestmark = pytest.mark.django_db


def post_action(client: Client, action: str, jobs: list[Job], url: str = CHANGELIST, **extra: Any) -> Any:
    data = {"action": action, "_selected_action": [job.pk for job in jobs], **extra}
    return client.post(url, data, follow=True)


def texts(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def states() -> dict[int, str]:
    return dict(Job.objects.values_list("pk", "state"))


def test_cancel_jobs_reports_changed_and_skipped_with_reason(operator: Client) -> None:
    jobs = [make_job(JobState.AVAILABLE), make_job(JobState.EXECUTING), make_job(JobState.COMPLETED)]
    response = post_action(operator, "cancel_jobs", jobs)
    assert texts(response) == ["2 jobs cancelled. 1 completed job skipped (already finished)."]
    assert states() == {jobs[0].pk: "cancelled", jobs[1].pk: "cancelled", jobs[2].pk: "completed"}


def test_retry_jobs_makes_failed_jobs_available(operator: Client) -> None:
    jobs = [make_job(JobState.DISCARDED), make_job(JobState.RETRYABLE), make_job(JobState.EXECUTING)]
    response = post_action(operator, "retry_jobs", jobs)
    assert texts(response) == ["2 jobs retried. 1 executing job skipped (already available or executing)."]
    assert states() == {jobs[0].pk: "available", jobs[1].pk: "available", jobs[2].pk: "executing"}


def test_one_job_is_reported_in_the_singular(operator: Client) -> None:
    job = make_job(JobState.DISCARDED)
    assert texts(post_action(operator, "retry_jobs", [job])) == ["1 job retried."]


def test_actions_leave_unselected_jobs_alone(operator: Client) -> None:
    selected, other = make_job(JobState.AVAILABLE), make_job(JobState.AVAILABLE)
    post_action(operator, "cancel_jobs", [selected])
    assert states() == {selected.pk: "cancelled", other.pk: "available"}


def test_delete_selected_is_replaced_by_delete_jobs(operator: Client) -> None:
    response = operator.get(CHANGELIST)
    choices = [value for value, _ in response.context["action_form"].fields["action"].choices if value]
    assert choices == ["cancel_jobs", "retry_jobs", "delete_jobs", "update_jobs"]


def test_delete_jobs_asks_for_confirmation_listing_skipped_jobs(operator: Client) -> None:
    jobs = [make_job(JobState.COMPLETED), make_job(JobState.EXECUTING)]
    before = snapshot()
    response = post_action(operator, "delete_jobs", jobs)
    assert response.templates[0].name == "admin/django_oban/job/delete_jobs.html"
    content = response.content.decode()
    assert "1 job will be deleted permanently." in content
    assert "1 executing job skipped (still running)" in content
    done, running = jobs
    assert f'<a href="/admin/django_oban/job/{done.pk}/change/">{done}</a>' in content  # to delete
    assert f'<ul class="oban-jobs oban-skipped-jobs">\n  <li><a href="/admin/django_oban/job/{running.pk}/change/">' \
        f"{running}</a></li>" in content
    assert 'name="post" value="yes"' in content
    assert snapshot() == before


def test_delete_confirmation_names_a_few_jobs_and_counts_the_rest(operator: Client) -> None:
    jobs = [make_job(JobState.COMPLETED) for _ in range(23)]
    content = post_action(operator, "delete_jobs", jobs).content.decode()
    assert "23 jobs will be deleted permanently." in content
    assert content.count('<li><a href="/admin/django_oban/job/') == 20
    assert "and 3 more jobs" in content


def test_delete_confirmation_with_only_executing_jobs_cannot_be_confirmed(operator: Client) -> None:
    content = post_action(operator, "delete_jobs", [make_job(JobState.EXECUTING)]).content.decode()
    assert "0 jobs will be deleted permanently." in content
    assert 'type="submit" value="Yes, I’m sure" disabled' in content


def test_confirmed_delete_removes_all_but_executing_jobs_and_logs_deletions(operator: Client) -> None:
    jobs = [make_job(JobState.COMPLETED), make_job(JobState.DISCARDED), make_job(JobState.EXECUTING)]
    response = post_action(operator, "delete_jobs", jobs, post="yes")
    assert texts(response) == ["2 jobs deleted. 1 executing job skipped (still running)."]
    assert list(Job.objects.values_list("pk", flat=True)) == [jobs[2].pk]
    logged = LogEntry.objects.filter(action_flag=DELETION)
    assert sorted(int(entry.object_id) for entry in logged) == sorted([jobs[0].pk, jobs[1].pk])


def test_actions_write_one_log_entry_per_changed_job(operator: Client) -> None:
    jobs = [make_job(JobState.AVAILABLE), make_job(JobState.SCHEDULED), make_job(JobState.CANCELLED)]
    post_action(operator, "cancel_jobs", jobs)
    entries = LogEntry.objects.filter(action_flag=CHANGE)
    assert sorted(int(entry.object_id) for entry in entries) == sorted([jobs[0].pk, jobs[1].pk])
    assert {entry.change_message for entry in entries} == {"Cancelled via the admin."}
    assert {entry.user.username for entry in entries} == {"staff-view_job-change_job-delete_job-cancel_job-retry_job"}


def test_update_jobs_shows_a_form_then_applies_it(operator: Client) -> None:
    jobs = [make_job(JobState.AVAILABLE, tags=["a"]), make_job(JobState.RETRYABLE, tags=[])]
    response = post_action(operator, "update_jobs", jobs)
    assert response.templates[0].name == "admin/django_oban/job/update_jobs.html"
    assert "Change 2 jobs." in response.content.decode()

    response = post_action(
        operator, "update_jobs", jobs, apply="1", priority="3", queue="mailers", add_tags="B, urgent", max_attempts="7"
    )
    assert texts(response) == ["2 jobs updated."]
    updated = list(Job.objects.order_by("pk").values_list("priority", "queue", "tags", "max_attempts"))
    assert updated == [(3, "mailers", ["a", "b", "urgent"], 7), (3, "mailers", ["b", "urgent"], 7)]
    assert LogEntry.objects.filter(action_flag=CHANGE).count() == 2


def test_update_jobs_blank_fields_leave_values_unchanged(operator: Client) -> None:
    job = make_job(JobState.AVAILABLE, priority=5, queue="reports")
    post_action(operator, "update_jobs", [job], apply="1", max_attempts="9", priority="", queue="")
    job.refresh_from_db()
    assert (job.priority, job.queue, job.max_attempts) == (5, "reports", 9)


@pytest.mark.parametrize(("value", "seconds"), [("3600", 3600), ("1h30m", 5400), ("2d", 172800)])
def test_update_jobs_schedule_in_reschedules(operator: Client, value: str, seconds: int) -> None:
    job = make_job(JobState.AVAILABLE)
    started = timezone.now()
    post_action(operator, "update_jobs", [job], apply="1", schedule_in=value)
    job.refresh_from_db()
    assert job.state == JobState.SCHEDULED
    assert started + timedelta(seconds=seconds) <= job.scheduled_at <= timezone.now() + timedelta(seconds=seconds)


def test_update_jobs_schedule_in_zero_makes_scheduled_jobs_available(operator: Client) -> None:
    job = make_job(JobState.SCHEDULED)
    post_action(operator, "update_jobs", [job], apply="1", schedule_in="0")
    job.refresh_from_db()
    assert job.state == JobState.AVAILABLE


def test_update_jobs_logs_what_changed(operator: Client) -> None:
    job = make_job(JobState.AVAILABLE, worker="app.workers.Report")
    post_action(operator, "update_jobs", [job], apply="1", priority="2", add_tags="Urgent")
    entry = LogEntry.objects.get()
    assert (entry.object_id, entry.object_repr, entry.action_flag) == (str(job.pk), str(job), CHANGE)
    assert entry.change_message == "Updated priority=2, tags added: urgent via the admin."
    assert entry.get_change_message() == entry.change_message


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"priority": "12"}, "priority", "less than or equal to 9"),
        ({"queue": "   "}, None, "Nothing to change"),
        ({"max_attempts": "1"}, "max_attempts", "max_attempts cannot be lower than the attempts already made by job"),
        ({"schedule_in": "10", "scheduled_at": "2030-01-01 00:00"}, "scheduled_at", "not both"),
        ({"scheduled_at": "tomorrow"}, "scheduled_at", "Enter a valid date/time"),
        ({"schedule_in": "soon"}, "schedule_in", "Enter a duration"),
        ({"schedule_in": "-5"}, "schedule_in", "Enter a duration"),
        ({"schedule_in": "99999999999999999999"}, "schedule_in", "out of range"),
        ({"max_attempts": "0"}, "max_attempts", "greater than or equal to 1"),
        ({"max_attempts": "2147483648"}, "max_attempts", "less than or equal to 2147483647"),
        ({"priority": "x"}, "priority", "Enter a whole number"),
        ({"queue": "a\x00b"}, "queue", "Null characters are not allowed"),
        ({}, None, "Nothing to change"),
    ],
)
def test_invalid_update_shows_field_errors_and_changes_nothing(
    operator: Client, data: dict[str, str], field: str | None, message: str
) -> None:
    jobs = [make_job(JobState.AVAILABLE), make_job(JobState.RETRYABLE, attempt=3, max_attempts=5)]
    before = snapshot()
    response = post_action(operator, "update_jobs", jobs, apply="1", priority="1", **data) if field == "max_attempts" \
        else post_action(operator, "update_jobs", jobs, apply="1", **data)
    form = response.context["form"]
    errors = form.errors.get(field or "__all__", [])
    assert any(message in error for error in errors), form.errors
    assert message in response.content.decode()
    assert snapshot() == before
    assert not LogEntry.objects.exists()


def test_actions_keep_the_changelist_filters(operator: Client) -> None:
    failed = make_job(JobState.DISCARDED)
    url = f"{CHANGELIST}?state__exact=discarded"
    response = post_action(operator, "delete_jobs", [failed], url=url)
    assert f'action="{url}"' in response.content.decode()
