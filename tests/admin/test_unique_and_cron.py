"""Unique and cron jobs in the admin: skip messages, the job page's sections, the list filters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client, override_settings
from django.utils import timezone

from django_oban.cron import schedule
from django_oban.cron.entries import configured_entries
from django_oban.models import Job
from django_oban.states import JobState
from tests.admin.conftest import CHANGELIST
from tests.admin.test_actions import post_action, texts
from tests.conftest import make_job, snapshot
from tests.unique.workers import OncePerArgs

pytestmark = pytest.mark.django_db

NOW = datetime.fromisoformat("2026-03-28T23:00:05+00:00")
CRON = [("@hourly", "tests.workers.SendEmail"), ("30 2 * * *", "tests.workers.Noop", {"args": {"kind": "sales"}})]


def discarded(args: dict[str, int]) -> Job:
    job = OncePerArgs.enqueue(args)
    Job.objects.filter(pk=job.pk).update(state=JobState.DISCARDED, discarded_at=timezone.now())
    return job


def page(client: Client, job: Job) -> str:
    response = client.get(f"{CHANGELIST}{job.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def listed(client: Client, query: str) -> set[int]:
    response = client.get(f"{CHANGELIST}?{query}")
    assert response.status_code == 200
    return {job.pk for job in response.context["cl"].result_list}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schedule, "database_now", lambda using="default": NOW)


def cron_job(expression: str, slot: str) -> Job:
    [entry] = [entry for entry in configured_entries() if entry.expression == expression]
    job = entry.new_job(slot)
    job.save()
    return job


# -- skip messages --------------------------------------------------------------------------


def test_retry_action_reports_unique_skips_and_logs_only_the_retried_job(operator: Client) -> None:
    duplicate = discarded({"a": 1})
    live = OncePerArgs.enqueue({"a": 1})
    free = discarded({"a": 2})

    response = post_action(operator, "retry_jobs", [duplicate, live, free])

    assert texts(response) == [
        "1 job retried. 1 available job skipped (already available or executing); "
        "1 job skipped (unique: would duplicate a unique job)."
    ]
    assert Job.objects.get(pk=duplicate.pk).state == JobState.DISCARDED
    assert Job.objects.get(pk=free.pk).state == JobState.AVAILABLE
    assert list(LogEntry.objects.values_list("object_id", flat=True)) == [str(free.pk)]


def test_update_action_reports_unique_skips(operator: Client) -> None:
    moving = OncePerArgs.enqueue({"a": 1})
    OncePerArgs.enqueue({"a": 1}, queue="mailers")
    plain = OncePerArgs.enqueue({"a": 1}, unique=None)

    response = post_action(operator, "update_jobs", [moving, plain], apply="1", queue="mailers")

    assert texts(response) == ["1 job updated. 1 job skipped (unique: would duplicate a unique job)."]
    assert (Job.objects.get(pk=moving.pk).queue, Job.objects.get(pk=plain.pk).queue) == ("default", "mailers")


def test_retry_button_on_a_duplicate_says_why_and_changes_nothing(operator: Client) -> None:
    duplicate = discarded({"a": 1})
    OncePerArgs.enqueue({"a": 1})
    before = snapshot()

    response = operator.post(f"{CHANGELIST}{duplicate.pk}/actions/retry_job/", follow=True)

    assert texts(response) == [f"Job {duplicate.pk} was not retried: it would duplicate a unique job (unique)."]
    assert snapshot() == before
    assert not LogEntry.objects.exists()


# -- the job page ---------------------------------------------------------------------------


def test_the_page_of_a_unique_job_shows_its_options_key_and_whether_it_counts(operator: Client) -> None:
    job = OncePerArgs.enqueue({"a": 1})

    counting = page(operator, job)
    Job.objects.filter(pk=job.pk).update(state=JobState.COMPLETED, completed_at=timezone.now())
    finished = page(operator, job)

    assert "Unique</h2>" in counting and job.unique_key in counting
    assert "&quot;states&quot;: [" in counting  # the options, as JSON
    assert "Yes: while it is available, no other job with its unique key can be inserted." in counting
    assert ("No: it counts only while available, scheduled, executing, retryable; "
            "another job with its unique key can be inserted.") in finished


def test_the_page_of_a_plain_job_has_no_unique_or_cron_section(operator: Client) -> None:
    content = page(operator, make_job())
    assert "Unique</h2>" not in content and "Cron</h2>" not in content


@override_settings(OBAN={"CRON": CRON, "TIMEZONE": "Europe/Berlin"})
def test_the_page_of_a_cron_job_shows_expression_slot_and_the_entrys_next_run(operator: Client, clock: None) -> None:
    hourly = cron_job("@hourly", "2026-03-28T23:00:00+00:00")
    sales = cron_job("30 2 * * *", "2026-03-28T01:30:00+00:00")

    hourly_page, sales_page = page(operator, hourly), page(operator, sales)

    assert "Cron</h2>" in hourly_page and "2026-03-28T23:00:00+00:00" in hourly_page
    assert "2026-03-29T01:00:00+01:00 (Europe/Berlin)" in hourly_page
    # 02:30 does not exist that night in Berlin: the next run is 03:00 summer time.
    assert "30 2 * * *" in sales_page and "2026-03-29T03:00:00+02:00 (Europe/Berlin)" in sales_page


@pytest.mark.parametrize(
    ("oban", "shown"),
    [
        ({"CRON": CRON[1:]}, "No entry of OBAN[&#x27;CRON&#x27;] inserts this job&#x27;s expression and worker now."),
        ({"CRON": CRON, "TIMEZONE": "Mars/Olympus"}, "(django_oban.E034)"),
    ],
)
def test_a_cron_job_without_its_entry_says_so(operator: Client, clock: None, oban: dict[str, Any], shown: str) -> None:
    with override_settings(OBAN={"CRON": CRON}):
        job = cron_job("@hourly", "2026-03-28T23:00:00+00:00")
    with override_settings(OBAN=oban):
        assert shown in page(operator, job)


# -- list filters ---------------------------------------------------------------------------


@override_settings(OBAN={"CRON": CRON})
def test_unique_and_cron_filters(operator: Client) -> None:
    counting = OncePerArgs.enqueue({"a": 1})
    finished = discarded({"a": 2})
    plain = make_job()
    hourly = cron_job("@hourly", "2026-03-28T23:00:00+00:00")
    sales = cron_job("30 2 * * *", "2026-03-28T01:30:00+00:00")

    assert listed(operator, "unique=yes") == {counting.pk, finished.pk}
    assert listed(operator, "unique=counting") == {counting.pk}
    assert listed(operator, "unique=no") == {plain.pk, hourly.pk, sales.pk}
    assert listed(operator, "cron=yes") == {hourly.pk, sales.pk}
    assert listed(operator, "cron=no") == {counting.pk, finished.pk, plain.pk}
    assert listed(operator, "cron=%40hourly") == {hourly.pk}
    assert listed(operator, "cron=not+an+expression") == set()


@override_settings(OBAN={"CRON": CRON})
def test_the_cron_filter_offers_each_configured_expression(operator: Client) -> None:
    response = operator.get(CHANGELIST)
    [cron] = [spec for spec in response.context["cl"].filter_specs if spec.title == "cron"]
    choices = [choice["display"] for choice in cron.choices(response.context["cl"])]
    assert choices == ["All", "Cron jobs", "Not cron jobs", "@hourly", "30 2 * * *"]
