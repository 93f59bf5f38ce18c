"""``attempted_by`` keeps the most recent ``ATTEMPTED_BY_LIMIT`` node names, on every engine."""

from __future__ import annotations

import pytest

from django_oban.models import Job, Node
from django_oban.runtime import database, nodes
from django_oban.runtime.database import ATTEMPTED_BY_LIMIT
from django_oban.states import JobState
from tests.conftest import make_job

pytestmark = pytest.mark.django_db


def history(length: int) -> list[str]:
    return [f"old-{n}" for n in range(length)]


@pytest.mark.parametrize("length", [0, 5, ATTEMPTED_BY_LIMIT - 1])
def test_a_claim_below_the_limit_appends_the_node(length: int) -> None:
    job = make_job(attempted_by=history(length), attempt=0)
    (claimed,) = database.claim("default", 1, "web-1")
    assert claimed.attempted_by == [*history(length), "web-1"]
    job.refresh_from_db()
    assert job.attempted_by == [*history(length), "web-1"]


@pytest.mark.parametrize("length", [ATTEMPTED_BY_LIMIT, ATTEMPTED_BY_LIMIT + 50])
def test_a_claim_at_the_limit_keeps_the_most_recent_entries(length: int) -> None:
    job = make_job(attempted_by=history(length), attempt=0)
    (claimed,) = database.claim("default", 1, "web-1")
    expected = [*history(length), "web-1"][-ATTEMPTED_BY_LIMIT:]
    assert claimed.attempted_by == expected
    job.refresh_from_db()
    assert job.attempted_by == expected
    assert len(job.attempted_by) == ATTEMPTED_BY_LIMIT


@pytest.mark.postgres
def test_a_lost_claim_of_a_job_at_the_limit_is_released_without_the_node() -> None:
    nodes.register("web-1")
    job = make_job(attempted_by=history(ATTEMPTED_BY_LIMIT), attempt=0)
    database.claim("default", 1, "web-1")
    assert database.release_lost_claims("default", "web-1", claimed=set()) == 1
    job.refresh_from_db()
    assert (job.state, job.attempt) == (JobState.AVAILABLE, 0)
    assert job.attempted_by == history(ATTEMPTED_BY_LIMIT)[1:]


@pytest.mark.postgres
def test_releasing_lost_claims_leaves_an_earlier_runs_jobs_of_the_same_name_for_rescue() -> None:
    earlier = nodes.register("web-1")
    Node.objects.filter(pk=earlier.id).update(started_at="2000-01-01T00:00:00Z")
    orphan = make_job(JobState.EXECUTING, attempted_by=["web-1"], attempted_at="2000-01-01T00:00:01Z")
    nodes.register("web-1")  # restarted under the same name
    assert database.release_lost_claims("default", "web-1", claimed=set()) == 0
    assert Job.objects.get(pk=orphan.pk).state == JobState.EXECUTING


@pytest.mark.parametrize("garbage", [{}, "web-0", 7])
def test_an_attempted_by_that_is_not_a_list_is_replaced_and_does_not_block_the_queue(garbage: object) -> None:
    job = make_job(attempted_by=garbage, attempt=0)
    behind = make_job(attempt=0)
    claimed = database.claim("default", 2, "web-1")
    assert {claimed_job.pk for claimed_job in claimed} == {job.pk, behind.pk}
    job.refresh_from_db()
    assert job.attempted_by == ["web-1"]
