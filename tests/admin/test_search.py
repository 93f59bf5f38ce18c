"""The job list's search box, Oban Web style: `name:values` filters ANDed, plain text as before, errors explained."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.test import Client

from django_oban.search import search_condition
from django_oban.states import JobState
from tests.admin.conftest import CHANGELIST
from tests.conftest import make_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def jobs() -> list[int]:
    """Four jobs that each search below tells apart; their ids."""
    made = [
        make_job(worker="app.workers.SendEmail", queue="mailers", priority=0, tags=["urgent", "vip"],
                 args={"user_id": 42, "to": "ada@example.com", "nested": {"lang": "en"}}, meta={"batch": "b1"}),
        make_job(JobState.DISCARDED, worker="app.workers.SendEmail", queue="mailers", priority=5, tags=["vip"],
                 args={"user_id": "42", "to": "Ada Lovelace"}, attempted_by=["web-1", "web-2"]),
        make_job(JobState.COMPLETED, worker="app.workers.Report", queue="reports", priority=9,
                 args={"user_id": 7, "flag": True}, meta={"batch": "b2"}, attempted_by=["web-10"]),
        make_job(worker="app.workers.Report", queue="default", args={"empty": None}),
    ]
    return [job.pk for job in made]


def found(client: Client, term: str) -> tuple[list[int], list[str]]:
    response = client.get(CHANGELIST, {"q": term})
    assert response.status_code == 200
    messages = [str(message) for message in get_messages(response.wsgi_request)]
    return sorted(job.pk for job in response.context["cl"].result_list), messages


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("id:{1}", [1]),
        ("id:{1},#{2}", [1, 2]),
        ("state:discarded", [1]),
        ("state:Completed,discarded", [1, 2]),
        ("priority:9", [2]),
        ("priority:0,5", [0, 1, 3]),
        ("queue:mailers", [0, 1]),
        ("queue:mail", []),  # queue names are exact
        ("worker:report", [2, 3]),  # worker paths in part, any case
        ("worker:SendEmail,Report", [0, 1, 2, 3]),
        ("node:web-1", [1]),  # web-10 is another node
        ("node:web-2", [1]),
        ("tags:urgent", [0]),
        ("tags:URGENT,vip", [0, 1]),
        ("args.user_id:42", [0, 1]),  # the number 42 or the text "42"
        ("args.user_id:7", [2]),
        ("args.to:ada@example.com", [0]),
        ('args.to:"Ada Lovelace"', [1]),
        ("args.nested.lang:en", [0]),
        ("args.flag:true", [2]),
        ("args.empty:null", [3]),
        ("args.missing:1", []),
        ("meta.batch:b2", [2]),
        ("worker:SendEmail state:available", [0]),  # words are ANDed
        ("queue:mailers tags:vip priority:5", [1]),
        ("SendEmail state:discarded", [1]),  # a plain word among filters
        ("Report", [2, 3]),  # plain text: part of a worker path, a tag, an id
        ("urgent", [0]),
        ("#{3}", [3]),
    ],
)
def test_each_search_form_finds_its_jobs(operator: Client, jobs: list[int], term: str, expected: list[int]) -> None:
    pks, messages = found(operator, term.format(*jobs))
    assert (pks, messages) == ([jobs[i] for i in expected], [])


@pytest.mark.parametrize(
    ("term", "message"),
    [
        ("colour:red", "Unknown search filter 'colour:'; use one of id, state, priority, queue, worker, node, tags, "
                       "args, meta."),
        ("state:done", "Unknown state 'done'; a state is one of available, scheduled, executing, retryable, "
                       "completed, discarded, cancelled."),
        ("priority:high", "priority: takes whole numbers from 0 to 9, not 'high'."),
        ("priority:10", "priority: takes whole numbers from 0 to 9, not '10'."),
        ("priority:99999999999999999999", "priority: takes whole numbers from 0 to 9, not '99999999999999999999'."),
        ("id:abc", "id: takes job ids (whole numbers below 2**63), not 'abc'."),
        ("id:99999999999999999999", "id: takes job ids (whole numbers below 2**63), not '99999999999999999999'."),
        ("args.n:99999999999999999999", "args.n: 99999999999999999999 is too large a number for a search."),
        ("args:1", "args: needs a key, as in args.user_id:42."),
        ("args..x:1", "args: needs a key, as in args.user_id:42."),
        ("queue.x:1", "queue: takes no key ('queue.x:1'); only args.KEY: and meta.KEY: do."),
        ("queue:", "queue: needs a value, as in queue:default."),
        ("state:discarded tags:,", "tags: needs a value, as in tags:urgent."),
    ],
)
def test_a_bad_search_says_what_is_wrong_and_lists_nothing(
    operator: Client, jobs: list[int], term: str, message: str
) -> None:
    assert found(operator, term) == ([], [f"Cannot search for {term!r}: {message}"])


def test_a_search_with_a_nul_character_is_refused(operator: Client, jobs: list[int]) -> None:
    assert found(operator, "args.to:a\x00b")[1] == ["Null characters are not allowed."]  # Django's search form
    with pytest.raises(ValidationError, match=r"A search cannot hold a NUL character\."):
        search_condition("args.to:a\x00b", using="default", workers=list)


@pytest.mark.parametrize("term", ["args.x:1e400", "args.x:NaN", "args.x:[1,2]", 'args.x:{"a":1}', "args.x:-0"])
def test_json_values_no_job_can_hold_find_nothing_without_an_error(operator: Client, jobs: list[int],
                                                                   term: str) -> None:
    assert found(operator, term) == ([], [])


def test_the_search_box_documents_the_filters(operator: Client) -> None:
    content = operator.get(CHANGELIST).content.decode()
    assert "args.KEY:value" in content and "tags:a,b" in content and "state:discarded" in content
