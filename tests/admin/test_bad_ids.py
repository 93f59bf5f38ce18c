"""Ids that are not job ids (not a number, beyond bigint, negative) in admin URLs, selections and queries: never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from django_oban.models import Job
from django_oban.states import JobState
from tests.admin.conftest import CHANGELIST
from tests.conftest import make_job, snapshot

pytestmark = pytest.mark.django_db

NOT_JOB_IDS = ["abc", "99999999999999999999", "9223372036854775808", "-1", "1.5", "1e3", "%C2%B3", "0x10", "a%00b"]
BUTTONS = ["cancel_job", "retry_job", "run_now", "delete_job"]


def texts(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.mark.parametrize("object_id", NOT_JOB_IDS)
@pytest.mark.parametrize("page", ["change/", "history/", "delete/", ""])
def test_a_job_page_for_a_non_id_is_not_found(operator: Client, object_id: str, page: str) -> None:
    make_job()
    assert operator.get(f"{CHANGELIST}{object_id}/{page}").status_code == 404


def test_a_job_page_for_a_deleted_job_says_it_does_not_exist(operator: Client) -> None:
    job = make_job()
    Job.objects.filter(pk=job.pk).delete()
    response = operator.get(f"{CHANGELIST}{job.pk}/change/", follow=True)
    assert response.redirect_chain == [("/admin/", 302)]
    assert texts(response) == [f"job with ID “{job.pk}” doesn’t exist. Perhaps it was deleted?"]  # noqa: RUF001


@pytest.mark.parametrize("object_id", NOT_JOB_IDS)
def test_a_posted_delete_for_a_non_id_changes_nothing(operator: Client, object_id: str) -> None:
    make_job(JobState.COMPLETED)
    before = snapshot()
    assert operator.post(f"{CHANGELIST}{object_id}/delete/", {"post": "yes"}).status_code == 404
    assert snapshot() == before


@pytest.mark.parametrize("object_id", NOT_JOB_IDS)
@pytest.mark.parametrize("button", BUTTONS)
def test_a_button_for_a_non_id_is_not_found(operator: Client, object_id: str, button: str) -> None:
    make_job(JobState.SCHEDULED)
    before = snapshot()
    assert operator.post(f"{CHANGELIST}{object_id}/actions/{button}/", {"post": "yes"}).status_code == 404
    assert snapshot() == before


def test_a_button_for_a_deleted_job_is_not_found(operator: Client) -> None:
    job = make_job(JobState.SCHEDULED)
    Job.objects.filter(pk=job.pk).delete()
    assert operator.post(f"{CHANGELIST}{job.pk}/actions/cancel_job/").status_code == 404


@pytest.mark.parametrize("field", ["id", "pk", "id__exact", "id__gt", "id__in", "pk__in", "priority__in", "attempt__lt"])
@pytest.mark.parametrize("value", ["abc", "99999999999999999999", "1,abc", "1,99999999999999999999"])
def test_an_id_lookup_with_a_non_id_is_an_error_flag_not_a_500(operator: Client, field: str, value: str) -> None:
    make_job()
    response = operator.get(CHANGELIST, {field: value}, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain == [(f"{CHANGELIST}?e=1", 302)] or response.context["cl"].result_count == 0


@pytest.mark.parametrize("term", ["99999999999999999999", "#99999999999999999999", "9223372036854775808", "-1", "#",
                                  "١٢", "1e3", "0x10"])
def test_a_search_for_a_non_id_finds_nothing_and_is_not_a_500(operator: Client, term: str) -> None:
    make_job(worker="app.workers.Report")
    response = operator.get(CHANGELIST, {"q": term})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []


def test_a_search_with_a_nul_character_is_refused_with_a_message(operator: Client) -> None:
    make_job(worker="app.workers.Report")
    response = operator.get(CHANGELIST, {"q": "Report\x00"})
    assert response.status_code == 200
    assert texts(response) == ["Null characters are not allowed."]


@pytest.mark.parametrize("selected", [["abc"], ["{pk}", "abc"], ["99999999999999999999"], ["{pk}\x00"], ["-1"]],
                         ids=repr)
@pytest.mark.parametrize("action", ["cancel_jobs", "retry_jobs", "delete_jobs", "update_jobs"])
def test_an_action_on_a_selection_that_is_not_job_ids_changes_nothing_and_says_so(
    operator: Client, action: str, selected: list[str]
) -> None:
    job = make_job(JobState.SCHEDULED)
    before = snapshot()
    data = {"action": action, "_selected_action": [value.format(pk=job.pk) for value in selected], "post": "yes",
            "apply": "1", "priority": "1"}
    response = operator.post(CHANGELIST, data, follow=True)
    assert response.redirect_chain == [(CHANGELIST, 302)]
    assert snapshot() == before
    assert texts(response) == [f"No job changed: not a job id: {selected[-1].format(pk=job.pk)!r}."]
