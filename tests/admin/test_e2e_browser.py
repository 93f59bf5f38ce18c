"""An operator retries failed jobs and watches the dashboard in a real headless Chromium."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from django_oban.admin import JobAdmin
from django_oban.models import Job, Node
from django_oban.states import JobState
from tests.conftest import make_job

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


def test_operator_filters_failed_jobs_and_retries_some(live_server: Any, tmp_path: Path) -> None:
    User.objects.create_superuser("operator", "op@example.com", "secret-pw")
    failed = [make_job(JobState.DISCARDED, worker="app.workers.SendEmail", attempt=3, max_attempts=3) for _ in range(3)]
    available = make_job(JobState.AVAILABLE, worker="app.workers.Report")
    chosen = failed[:2]
    screenshot = tmp_path / "retried.png"

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{live_server.url}/admin/login/?next=/admin/django_oban/job/")
        page.fill("#id_username", "operator")
        page.fill("#id_password", "secret-pw")
        page.click("input[type=submit]")

        page.click(".oban-state-counts a.state-discarded")
        page.wait_for_url("**/?state__exact=discarded")
        rows = page.locator("#result_list tbody tr")
        sync_api.expect(rows).to_have_count(len(failed))
        for job in chosen:
            page.check(f'input[name="_selected_action"][value="{job.pk}"]')
        page.select_option('select[name="action"]', "retry_jobs")
        page.click('button[name="index"]')

        sync_api.expect(page.locator(".messagelist .success")).to_have_text("2 jobs retried.")
        sync_api.expect(rows).to_have_count(1)
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()

    assert screenshot.stat().st_size > 0
    states = dict(Job.objects.values_list("pk", "state"))
    assert states == {
        chosen[0].pk: JobState.AVAILABLE,
        chosen[1].pk: JobState.AVAILABLE,
        failed[2].pk: JobState.DISCARDED,
        available.pk: JobState.AVAILABLE,
    }


def test_operator_watches_the_dashboard_refresh_without_a_reload(
    live_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Set OBAN_SCREENSHOTS=docs/images to refresh the documentation's screenshots of the dashboard."""
    monkeypatch.setattr(JobAdmin, "dashboard_refresh_seconds", 1)
    # Playwright's sync API runs an event loop in this thread; the job below is added from it.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    User.objects.create_superuser("operator", "op@example.com", "secret-pw")
    now = timezone.now()
    for index in range(40):
        state = JobState.DISCARDED if index % 9 == 0 else JobState.COMPLETED
        end = now - timedelta(minutes=index % 30, seconds=index)
        make_job(state, queue=("mailers", "reports")[index % 2],
                 worker=("app.workers.SendEmail", "app.workers.Report")[index % 2],
                 attempted_at=end - timedelta(seconds=1 + index % 7),
                 scheduled_at=end - timedelta(seconds=1 + index % 7 + index % 4 * 0.6),
                 attempted_by=[f"web-{index % 2 + 1}"], **{f"{state}_at": end})
    for index in range(3):
        make_job(JobState.EXECUTING, queue="mailers", worker="app.workers.SendEmail",
                 attempted_by=[f"web-{index % 2 + 1}"])
    make_job(JobState.AVAILABLE, queue="reports", worker="app.workers.Report")
    Node.objects.bulk_create([Node(name="web-1"), Node(name="web-2")])
    screenshots = Path(os.environ.get("OBAN_SCREENSHOTS") or tmp_path)

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(f"{live_server.url}/admin/login/?next=/admin/django_oban/job/")
        page.fill("#id_username", "operator")
        page.fill("#id_password", "secret-pw")
        page.click("input[type=submit]")
        page.click("text=Dashboard")
        page.wait_for_url("**/django_oban/job/dashboard/")
        finished = page.locator("#oban-throughput h2")
        sync_api.expect(finished).to_have_text("Jobs finished per minute, last hour (40)")
        sync_api.expect(page.locator("#oban-running tbody tr")).to_have_count(2)
        page.screenshot(path=str(screenshots / "dashboard.png"), full_page=True)

        page.evaluate("window.obanNotReloaded = true")
        make_job(JobState.COMPLETED, queue="mailers", worker="app.workers.SendEmail")
        sync_api.expect(finished).to_have_text("Jobs finished per minute, last hour (41)", timeout=10_000)
        assert page.evaluate("window.obanNotReloaded") is True

        page.select_option('select[name="queue"]', "reports")
        page.click("text=Filter")
        page.wait_for_url("**/dashboard/?queue=reports**")
        sync_api.expect(page.locator("#oban-counts tbody th")).to_have_text(["reports"])
        page.screenshot(path=str(screenshots / "dashboard-reports.png"), full_page=True)
        browser.close()

    assert (screenshots / "dashboard.png").stat().st_size > 0
