"""An operator retries failed jobs in a real headless Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from django_oban.models import Job
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
