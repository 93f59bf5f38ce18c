"""Hostile requests to the job admin as a superuser: a 4xx, a redirect or a page with an error,
never a 500, and never a job changed by a refused request.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from django_oban.changes import MAX_JSON_DEPTH, MAX_NAME_LENGTH
from django_oban.models import Job
from django_oban.states import JobState
from tests.admin.conftest import CHANGELIST
from tests.conftest import ALL_STATES, make_job
from tests.workers import Noop

from .hostile import SQL_LOOKING, nested, nothing_changes, random_text

pytestmark = pytest.mark.django_db

#: Query strings of the change list, as a browser or a script would send them.
CHANGELIST_QUERIES = [
    "state=bogus", "state__exact=bogus", "state__exact=%27%20OR%201%3D1%20--", "queue=%27%20OR%201%3D1%20--",
    "queue__exact=%27%20OR%201%3D1%20--", "worker__exact=%22%3B%20DROP%20TABLE%20oban_jobs%3B%20--",
    "q=%27%20OR%201%3D1%20--", "q=%25", "q=_", "q=%ED%A0%80", "q=%FF%FE", "q=" + "x" * 10_000,
    "id=abc", "p=-1", "p=abc", "p=99999999999999999999", "p=0", "o=99", "o=abc", "o=-1.2", "o=1.99", "o=" + "1." * 500,
    "priority__exact=abc", "priority__exact=99999999999999999999", "priority__exact=-1",
    "inserted_at__gte=garbage", "inserted_at__gte=99999-01-01", "inserted_at__lt=0001-01-01",
    "all=&e=1", "tags__contains=x", "errors__0__error=x", "_changelist_filters=%27", "bogus=1",
    "state__exact=available&state__exact=bogus", "queue__in=a,b,%27",
]

#: Query strings with a NUL character, which PostgreSQL text cannot hold.
NUL_QUERIES = ["q=a%00b", "priority__exact=%00", "inserted_at__gte=%00", "o=%00", "p=%00", "a%00b=1",
               "queue__exact=a%00b", "worker__exact=%00", "state__exact=%00"]

ACTIONS = ["cancel_jobs", "retry_jobs", "delete_jobs", "update_jobs"]

#: (form fields posted to the update action with apply=1, the field that must show an error).
BAD_UPDATE_FORMS: list[tuple[dict[str, str], str]] = [
    ({"priority": "abc"}, "priority"),
    ({"priority": "10"}, "priority"),
    ({"priority": "99999999999999999999"}, "priority"),
    ({"priority": "' OR 1=1 --"}, "priority"),
    ({"queue": "a\x00b"}, "queue"),
    ({"queue": "q" * (MAX_NAME_LENGTH + 1)}, "queue"),
    ({"add_tags": "ok,a\x00b"}, "add_tags"),
    ({"schedule_in": "-5"}, "schedule_in"),
    ({"schedule_in": "nan"}, "schedule_in"),
    ({"schedule_in": "99999999999w"}, "schedule_in"),
    ({"schedule_in": "500000w"}, "schedule_in"),
    ({"schedule_in": "\x00"}, "schedule_in"),
    ({"scheduled_at": "garbage"}, "scheduled_at"),
    ({"scheduled_at": "2030-02-30 00:00:00"}, "scheduled_at"),
    ({"scheduled_at": "99999-01-01 00:00:00"}, "scheduled_at"),
    ({"scheduled_at": "2030-01-01\x00"}, "scheduled_at"),
    ({"max_attempts": "0"}, "max_attempts"),
    ({"max_attempts": "-1"}, "max_attempts"),
    ({"max_attempts": "99999999999999999999"}, "max_attempts"),
    ({"max_attempts": "1.5"}, "max_attempts"),
]


@pytest.fixture
def root() -> Client:
    user = User.objects.create_superuser("root", "root@example.com", None)  # force_login needs no password
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def every_state() -> list[Job]:
    return [make_job(state) for state in ALL_STATES]


def assert_not_a_server_error(response: Any) -> None:
    assert response.status_code < 500, response.status_code


@pytest.mark.parametrize("query", [*CHANGELIST_QUERIES, *NUL_QUERIES])
def test_the_job_list_with_hostile_parameters_is_not_a_500(root: Client, every_state: list[Job], query: str) -> None:
    with nothing_changes():
        response = root.get(f"{CHANGELIST}?{query}")
    assert_not_a_server_error(response)


@pytest.mark.parametrize("text", SQL_LOOKING)
def test_sql_looking_filters_and_searches_find_only_matching_jobs(root: Client, every_state: list[Job], text: str) -> None:
    job = Noop.enqueue(queue=text, tags=[text])
    for params in ({"queue__exact": text}, {"q": text}):
        response = root.get(CHANGELIST, params)
        assert response.status_code == 200
        assert [row.pk for row in response.context["cl"].result_list] == [job.pk], params


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize(
    "selected",
    [["-1"], ["0"], ["9223372036854775807"], ["-9223372036854775808"], ["99999999999999999999"],
     ["9223372036854775808"], ["abc"], ["1.5"], [""], ["1", "abc"], ["1\x00"], ["' OR 1=1 --"]],
    ids=repr,
)
def test_an_action_on_a_selection_of_no_job_ids_changes_nothing(
    root: Client, every_state: list[Job], action: str, selected: list[str]
) -> None:
    data = {"action": action, "_selected_action": selected, "post": "yes", "apply": "1", "priority": "1"}
    with nothing_changes():
        response = root.post(CHANGELIST, data)
    assert_not_a_server_error(response)


@pytest.mark.parametrize("action", [*ACTIONS, "bogus", "delete_selected", "", "\x00"])
def test_an_action_without_a_selection_changes_nothing(root: Client, every_state: list[Job], action: str) -> None:
    with nothing_changes():
        response = root.post(CHANGELIST, {"action": action, "post": "yes", "apply": "1", "priority": "1"})
    assert_not_a_server_error(response)


def test_an_unknown_action_on_real_jobs_changes_nothing(root: Client, every_state: list[Job]) -> None:
    selected = [str(job.pk) for job in every_state]
    with nothing_changes():
        response = root.post(CHANGELIST, {"action": "bogus", "_selected_action": selected, "post": "yes"})
    assert_not_a_server_error(response)


@pytest.mark.parametrize(("form", "field"), BAD_UPDATE_FORMS, ids=[repr(form)[:60] for form, _ in BAD_UPDATE_FORMS])
def test_a_hostile_update_form_shows_the_error_and_changes_nothing(
    root: Client, every_state: list[Job], form: dict[str, str], field: str
) -> None:
    data = {"action": "update_jobs", "_selected_action": [str(job.pk) for job in every_state], "apply": "1", **form}
    with nothing_changes():
        response = root.post(CHANGELIST, data)
    assert response.status_code == 200
    assert response.context["form"].errors.get(field), response.context["form"].errors


def test_the_job_page_shows_args_at_the_limits(root: Client) -> None:
    """The page renders JSON with Python's pure-Python (recursive) encoder: the depth limit leaves it room."""
    job = Noop.enqueue(nested(MAX_JSON_DEPTH), meta={"big": 2**100, "text": "😀 \u202e"}, queue=random_text(MAX_NAME_LENGTH))
    response = root.get(f"{CHANGELIST}{job.pk}/change/")
    assert response.status_code == 200
    assert response.context["original"].pk == job.pk
    assert root.get(CHANGELIST).status_code == 200


def test_a_stored_job_with_hostile_text_is_escaped_on_every_page(root: Client) -> None:
    script = "<script>alert(1)</script>"
    job = Noop.enqueue({script: script}, queue=script, tags=[script], meta={"x": script})
    Job.objects.filter(pk=job.pk).update(worker=script, state=JobState.DISCARDED, errors=[{"at": script, "attempt": script, "error": script}])
    for url in (CHANGELIST, f"{CHANGELIST}{job.pk}/change/", f"{CHANGELIST}?q={script}"):
        response = root.get(url)
        assert response.status_code == 200
        assert script not in response.content.decode()
