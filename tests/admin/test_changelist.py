"""The change list on a big table: filters without DISTINCT scans, one count, indexed search."""

from __future__ import annotations

from typing import Any

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from django_oban import counting
from django_oban.models import Job
from django_oban.states import JobState
from tests.admin.conftest import CHANGELIST
from tests.conftest import make_job

pytestmark = pytest.mark.django_db


def job_queries(client: Client, params: dict[str, str] | None = None) -> tuple[Any, list[str]]:
    """GET the change list; the response and the SQL of every query touching oban_jobs."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(CHANGELIST, params or {})
    assert response.status_code == 200
    return response, [query["sql"] for query in captured.captured_queries if "oban_jobs" in query["sql"]]


def filter_choices(response: Any, title: str) -> list[str]:
    spec = next(spec for spec in response.context["cl"].filter_specs if spec.title == title)
    return [choice["display"] for choice in spec.choices(response.context["cl"])]


def test_distinct_queues_and_workers_come_from_index_skip_scans() -> None:
    assert Job.objects.queue_names() == [] and Job.objects.worker_names() == []
    make_job(JobState.AVAILABLE, queue="mailers", worker="app.workers.SendEmail")
    make_job(JobState.COMPLETED, queue="mailers", worker="app.workers.SendEmail")
    make_job(JobState.DISCARDED, queue="default", worker="app.workers.Report")
    make_job(JobState.EXECUTING, queue="media", worker="app.workers.Resize")
    make_job(JobState.EXECUTING, queue="media", worker="app.workers.Resize")
    assert Job.objects.queue_names() == ["default", "mailers", "media"]
    assert Job.objects.worker_names() == ["app.workers.Report", "app.workers.Resize", "app.workers.SendEmail"]


def test_filters_list_queues_workers_and_priorities_without_scanning_the_table(operator: Client) -> None:
    make_job(JobState.AVAILABLE, queue="mailers", worker="app.workers.SendEmail")
    make_job(JobState.DISCARDED, queue="default", worker="app.workers.Report")
    response, queries = job_queries(operator)
    assert filter_choices(response, "queue") == ["All", "default", "mailers"]
    assert filter_choices(response, "worker") == ["All", "app.workers.Report", "app.workers.SendEmail"]
    assert filter_choices(response, "priority") == ["All", *map(str, range(10))]
    assert not [sql for sql in queries if "DISTINCT" in sql and "WITH RECURSIVE" not in sql]


def test_the_unfiltered_list_counts_each_state_once_with_a_bound(operator: Client) -> None:
    for state in (JobState.AVAILABLE, JobState.DISCARDED, JobState.DISCARDED):
        make_job(state)
    response, queries = job_queries(operator)
    assert response.context["cl"].result_count == 3
    counting = [sql for sql in queries if "COUNT(" in sql.upper()]
    assert len(counting) == len(JobState.values)  # the counts by state give the total too
    if connection.vendor == "postgresql":
        assert all("LIMIT 100001" in sql for sql in counting)  # never the whole table


@pytest.mark.postgres
def test_states_past_the_bound_show_the_planners_estimate(operator: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(counting, "EXACT_UP_TO", 2)
    for state in (JobState.AVAILABLE, *[JobState.COMPLETED] * 5):
        make_job(state)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE oban_jobs")
    response = operator.get(CHANGELIST)
    content = response.content.decode()
    assert 'class="state-available">available<span class="count">1</span>' in content
    assert re.search(r'class="state-completed">completed<span class="count">≈ \d', content)
    assert re.search(r'≈ \d+ jobs', content)  # the paginator's total is the sum, marked inexact too
    assert response.context["cl"].result_count >= 3


def test_a_state_filtered_list_takes_its_count_from_the_counts_by_state(operator: Client) -> None:
    for state in (JobState.AVAILABLE, JobState.DISCARDED, JobState.DISCARDED):
        make_job(state)
    response, queries = job_queries(operator, {"state__exact": "discarded"})
    assert response.context["cl"].result_count == 2
    assert len(response.context["cl"].result_list) == 2
    assert len([sql for sql in queries if "COUNT(" in sql.upper()]) == len(JobState.values)  # no count of its own


def test_other_filters_count_the_filtered_jobs(operator: Client) -> None:
    make_job(JobState.AVAILABLE, queue="mailers")
    make_job(JobState.AVAILABLE, queue="default")
    response, _ = job_queries(operator, {"queue__exact": "mailers"})
    assert response.context["cl"].result_count == 1


def test_pages_and_counts_on_a_list_longer_than_a_page(operator: Client) -> None:
    from model_bakery import baker

    Job.objects.bulk_create(baker.prepare(Job, worker="app.workers.Report", state="completed", _quantity=150))
    response = operator.get(CHANGELIST, {"p": "2"})
    cl = response.context["cl"]
    assert (cl.result_count, cl.paginator.num_pages, len(cl.result_list)) == (150, 2, 50)
    assert "150 jobs" in response.content.decode()


def test_change_list_shows_inserted_time_column(operator: Client) -> None:
    make_job()
    content = operator.get(CHANGELIST).content.decode()
    assert "column-inserted_at" in content and 'class="field-inserted_at' in content


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("sendemail", [0]),  # part of a worker path, any case
        ("SendEmail", [0]),
        ("app.workers", [0, 1, 2]),
        ("URGENT", [1]),  # a tag, normalised
        ("urgent", [1]),
        ("#{pk}", [2]),  # an id, with or without #
        ("{pk}", [2]),
        ("nothing-like-it", []),
        ("99999999999999999999999", []),  # beyond bigint: not an id
    ],
)
def test_search(operator: Client, term: str, expected: list[int]) -> None:
    jobs = [
        make_job(worker="app.workers.SendEmail"),
        make_job(worker="app.workers.Report", tags=["urgent"]),
        make_job(worker="app.workers.Other"),
    ]
    response = operator.get(CHANGELIST, {"q": term.format(pk=jobs[2].pk)})
    assert sorted(job.pk for job in response.context["cl"].result_list) == [jobs[i].pk for i in expected]


def test_search_by_worker_filters_on_indexed_worker_paths(operator: Client) -> None:
    make_job(worker="app.workers.SendEmail")
    _, queries = job_queries(operator, {"q": "SendEmail"})
    by_state = re.compile(r'WHERE "oban_jobs"."state" = \'\w+\'( LIMIT \d+\) subquery)?$')  # the counts by state
    listing = [sql for sql in queries if '"oban_jobs"."args"' in sql or ("COUNT(*)" in sql and not by_state.search(sql))]
    assert len(listing) == 2  # the page's rows and their count
    assert listing and all('"oban_jobs"."worker" IN' in sql for sql in listing)
    assert not [sql for sql in listing if 'UPPER("oban_jobs"."worker"' in sql or '"oban_jobs"."worker" LIKE' in sql]


def test_the_job_page_shows_odd_errors_as_json(operator: Client) -> None:
    job = make_job(JobState.DISCARDED, errors=["plain text", {"attempt": 2, "reason": "no error key"}])
    content = operator.get(f"{CHANGELIST}{job.pk}/change/").content.decode()
    assert "<pre>&quot;plain text&quot;</pre>" in content
    assert "<strong>Attempt 2 at </strong>" in content and "&quot;reason&quot;: &quot;no error key&quot;" in content
