"""The job dashboard: what it shows, its filters, who may see it, its refresh, and its bounded query count."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from django_oban import dashboard
from django_oban.dashboard import WINDOW, finished_since, percentile, snapshot
from django_oban.models import Job, Node
from django_oban.states import JobState
from tests.admin.conftest import CHANGELIST
from tests.conftest import make_job

pytestmark = pytest.mark.django_db

DASHBOARD = f"{CHANGELIST}dashboard/"


def finished(state: str, minutes_ago: float, run: float, wait: float, **fields: object) -> Job:
    """A job that waited ``wait`` s, ran ``run`` s and finished ``minutes_ago`` minutes ago."""
    end = timezone.now() - timedelta(minutes=minutes_ago)
    start = end - timedelta(seconds=run)
    return make_job(state, attempted_at=start, scheduled_at=start - timedelta(seconds=wait),
                    **{f"{state}_at": end}, **fields)


@pytest.fixture
def busy() -> None:
    """Mailers: 20 completed jobs running 1 s to 20 s, one discarded; reports: two executing on two nodes."""
    for seconds in range(1, 21):
        finished(JobState.COMPLETED, minutes_ago=seconds % 3, run=seconds, wait=seconds / 10,
                 queue="mailers", worker="app.workers.SendEmail", attempted_by=["web-1"])
    finished(JobState.DISCARDED, minutes_ago=5, run=0.5, wait=0.0, queue="mailers", worker="app.workers.SendEmail",
             attempted_by=["web-2"])
    finished(JobState.COMPLETED, minutes_ago=90, run=500, wait=0, queue="mailers")  # before the last hour
    make_job(JobState.EXECUTING, queue="reports", worker="app.workers.Report", attempted_by=["web-1"])
    make_job(JobState.EXECUTING, queue="reports", worker="app.workers.Report", attempted_by=["web-1", "web-2"])
    make_job(JobState.AVAILABLE, queue="reports", worker="app.workers.Report")
    Node.objects.create(name="web-1")
    Node.objects.create(name="web-2")


def test_snapshot_counts_running_throughput_and_p95_times(busy: None) -> None:
    data = snapshot(Job.objects.all())
    assert data.counts["mailers"][JobState.COMPLETED] == 21 and data.counts["reports"][JobState.EXECUTING] == 2
    assert data.running == {"web-1": {"reports": 1}, "web-2": {"reports": 1}}  # the node of the last attempt
    assert len(data.throughput) == 60 and sum(c[JobState.COMPLETED] for _, c in data.throughput) == 20
    assert sum(c[JobState.DISCARDED] for _, c in data.throughput) == 1
    (mailers,) = data.by_queue
    # 21 run times (0.5 s, 1 s … 20 s): the 95th percentile, interpolated, is 19 s; queue times 0 s … 2 s: 1.9 s.
    assert (mailers.name, mailers.finished) == ("mailers", 21)
    assert mailers.run_time == timedelta(seconds=19) and mailers.queue_time == timedelta(seconds=1.9)
    assert [timing.name for timing in data.by_worker] == ["app.workers.SendEmail"]


@pytest.mark.postgres
def test_a_busy_hour_s_percentiles_come_from_one_job_in_k_by_id(busy: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashboard, "SAMPLE", 5)  # 21 jobs finished in the hour: one in ceil(21 / 5) = 5
    sampled = sorted(run for pk, run in finished_since(Job.objects.filter(queue="mailers"), timezone.now() - WINDOW)
                     .values_list("pk", "run_time") if pk % 5 == 0)
    (mailers,) = snapshot(Job.objects.all()).by_queue
    assert mailers.finished == 21 and 2 <= len(sampled) <= 5
    assert mailers.run_time == percentile(sampled) != timedelta(seconds=19)


def test_snapshot_narrowed_to_a_node(busy: None) -> None:
    data = snapshot(Job.objects.all(), node="web-2")
    assert data.running == {"web-2": {"reports": 1}}
    assert [(t.name, t.finished) for t in data.by_queue] == [("mailers", 1)]


def test_the_dashboard_page_shows_the_queues_and_charts(operator: Client, busy: None) -> None:
    response = operator.get(DASHBOARD)
    content = response.content.decode()
    assert response.status_code == 200
    assert 'id="oban-dashboard" data-refresh="5"' in content and "django_oban/dashboard.js" in content
    assert f'href="{CHANGELIST}?queue__exact=mailers&amp;state__exact=completed">21</a>' in content
    assert "<th>web-1 (1)</th><td>reports</td><td>1</td>" in content
    assert "Jobs finished per minute, last hour (21)" in content
    assert content.count("<rect") >= 2 + 2 + 2  # throughput bars, and run / queue bars by queue and by worker
    assert "mailers: p95 run time 19.0 s" in content and "mailers: p95 queue time 1.9 s" in content


def test_the_job_list_links_to_the_dashboard(operator: Client) -> None:
    assert f'href="{DASHBOARD}"' in operator.get(CHANGELIST).content.decode()


def test_filters_narrow_the_dashboard_and_links_keep_them(operator: Client, busy: None) -> None:
    content = operator.get(DASHBOARD, {"queue": "reports", "node": "web-1"}).content.decode()
    assert "mailers" not in content.split('id="oban-dashboard"')[1]
    assert f'href="{CHANGELIST}?queue__exact=reports&amp;state__exact=executing">2</a>' in content
    assert "web-2" not in content.split('id="oban-running"')[1].split("</section>")[0]


@pytest.mark.parametrize("params", [{"queue": "nope"}, {"worker": "a\x00b"}, {"node": "x" * 10_000}], ids=repr)
def test_a_filter_naming_nothing_is_a_400_with_a_message(operator: Client, busy: None, params: dict[str, str]) -> None:
    response = operator.get(DASHBOARD, params)
    assert response.status_code == 400
    name = next(iter(params))
    assert f'<li class="error">{name}: Select a valid choice.' in response.content.decode()


def test_panels_alone_for_the_refresh(operator: Client, busy: None) -> None:
    response = operator.get(DASHBOARD, {"panels": "1", "queue": "mailers"})
    content = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in content and 'id="oban-counts"' in content and "reports" not in content


def test_only_users_who_may_view_jobs_see_it(staff_with: Callable[..., Client], client: Client) -> None:
    assert staff_with().get(DASHBOARD).status_code == 403
    assert staff_with("view_job").get(DASHBOARD).status_code == 200
    assert client.get(DASHBOARD).status_code == 302  # to the login page


@pytest.mark.parametrize("scale", [1, 8])
def test_the_query_count_does_not_grow_with_jobs_queues_workers_or_nodes(
    operator: Client, django_assert_num_queries: object, scale: int
) -> None:
    for index in range(5 * scale):
        finished(JobState.COMPLETED, minutes_ago=index % 50, run=index, wait=1,
                 queue=f"q{index}", worker=f"app.W{index}", attempted_by=[f"node-{index}"])
        make_job(JobState.EXECUTING, queue=f"q{index}", attempted_by=[f"node-{index}"])
        Node.objects.create(name=f"node-{index}")
    # Session, user and the user's permissions (2); queues, workers and nodes of the filters;
    # counts, executing jobs, throughput; p95 by queue and by worker (PostgreSQL) or the hour's
    # durations (SQLite); on PostgreSQL, the EXPLAIN that finds the table small enough to count exactly.
    expected = 4 + 3 + 3 + (3 if connection.vendor == "postgresql" else 1)
    with django_assert_num_queries(expected):  # type: ignore[operator]
        assert operator.get(DASHBOARD).status_code == 200


def test_throughput_minutes_are_in_the_current_time_zone(busy: None) -> None:
    with timezone.override("Asia/Kolkata"):
        data = snapshot(Job.objects.all())
    minute = data.throughput[-1][0]
    assert minute.utcoffset() == timedelta(hours=5, minutes=30)  # the chart's labels are local times
    assert sum(sum(c.values()) for _, c in data.throughput) == 21
