"""Filters in the list's query string that the database cannot run: back to the list with a message, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client

from tests.admin.conftest import CHANGELIST
from tests.conftest import make_job

pytestmark = pytest.mark.django_db

PLAIN_COMPARISONS_ONLY = "only a field and a plain comparison (exact, in, gte, contains…) can filter jobs"


def texts(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("queue__exact", "a\x00b", "a NUL character is not allowed"),
        ("worker__exact", "\x00", "a NUL character is not allowed"),
        ("state__exact", "\x00", "a NUL character is not allowed"),
        ("queue__regex", "(", PLAIN_COMPARISONS_ONLY),
        ("id__range", "1", PLAIN_COMPARISONS_ONLY),
        ("inserted_at__year", "99999999999", PLAIN_COMPARISONS_ONLY),
        ("args__x__iregex", "*", PLAIN_COMPARISONS_ONLY),
        ("id__gt", "99999999999999999999", "a number beyond 64 bits"),
    ],
    ids=repr,
)
def test_a_filter_the_database_cannot_run_goes_back_to_the_list_saying_why(
    operator: Client, name: str, value: str, reason: str
) -> None:
    job = make_job()
    response = operator.get(CHANGELIST, {name: value}, follow=True)
    assert response.redirect_chain == [(f"{CHANGELIST}?e=1", 302)]
    assert texts(response) == [f"Jobs cannot be filtered by {name!r}: {reason}."]
    assert [row.pk for row in response.context["cl"].result_list] == [job.pk]


def test_the_filters_the_list_builds_still_filter(operator: Client) -> None:
    wanted = make_job(queue="mailers", priority=3)
    make_job(queue="default", priority=3)
    params = {"queue__exact": "mailers", "priority__in": "3,4", "inserted_at__gte": "2000-01-01",
              "queue__isnull": "False"}
    response = operator.get(CHANGELIST, params)
    assert response.status_code == 200
    assert [row.pk for row in response.context["cl"].result_list] == [wanted.pk]


def test_a_tag_containment_filter_works_where_the_database_can_run_it(operator: Client) -> None:
    tagged = make_job(tags=["urgent"])
    make_job(tags=["later"])
    response = operator.get(CHANGELIST, {"tags__contains": "urgent"}, follow=True)
    if connection.features.supports_json_field_contains:
        assert [row.pk for row in response.context["cl"].result_list] == [tagged.pk]
    else:  # SQLite
        assert response.redirect_chain == [(f"{CHANGELIST}?e=1", 302)]
        assert texts(response) == ["Jobs cannot be filtered by 'tags__contains': this database cannot filter JSON by "
                                   "containment."]
