"""Hostile command lines for the job management commands: a ``CommandError`` with a clear
message (exit status 1 from a shell), never a traceback, and not one job changed.
"""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from django_oban.changes import MAX_NAME_LENGTH
from django_oban.models import Job
from django_oban.states import JobState
from tests.conftest import ALL_STATES, make_job

from .hostile import nothing_changes

pytestmark = pytest.mark.django_db

#: Every command that selects jobs, with the values an update needs to be complete.
SELECTING = {
    "oban_cancel": (),
    "oban_retry": (),
    "oban_delete": (),
    "oban_update": ("--set-priority", "1"),
}

#: (selection argv, fragment of the message): refused by every selecting command.
BAD_SELECTIONS: list[tuple[tuple[str, ...], str]] = [
    (("abc",), "Invalid job id 'abc'"),
    (("-1",), "Invalid job id '-1'"),
    (("0",), "Invalid job id '0'"),
    (("1.5",), "Invalid job id '1.5'"),
    (("1e3",), "Invalid job id '1e3'"),
    (("0x10",), "Invalid job id '0x10'"),
    (("١٢",), "Invalid job id"),  # Arabic-Indic digits: isdigit() but not an id
    (("1\x00",), "Invalid job id"),
    (("99999999999999999999",), "ids are at most 9223372036854775807"),
    (("9" * 5000,), "ids are at most"),
    (("' OR 1=1 --",), "Invalid job id"),
    (("1", "--queue", "default"), "not both"),
    ((), "Give job ids or at least one filter"),
    (("--queue", "a\x00"), "NUL character"),
    (("--queue", " "), "non-blank"),
    (("--worker", "x\x00"), "NUL character"),
    (("--tag", "a\x00"), "NUL character"),
    *(  # "\udcff" is what an undecodable byte in argv becomes
        ((flag, "mail\udcffers"), f"Invalid {flag} 'mail\\udcffers': contains a lone surrogate")
        for flag in ("--queue", "--worker", "--tag")
    ),
    (("--state", "bogus"), "Invalid --state 'bogus'"),
    (("--state", "\x00"), "Invalid --state"),
    (("--state", "' OR 1=1 --"), "Invalid --state"),
    (("--older-than", "nan"), "Invalid --older-than 'nan'"),
    (("--older-than", "inf"), "Invalid --older-than 'inf'"),
    (("--older-than", "1e400"), "Invalid --older-than"),
    (("--older-than", "-5d"), "expected one argument"),
    (("--older-than=-5d",), "Invalid --older-than '-5d'"),
    (("--older-than", "99999999999w"), "out of range"),
    (("--older-than", "500000w"), "before the year 1"),
    (("--queue", "x", "--batch-size", "0"), "Invalid --batch-size '0'"),
    (("--queue", "x", "--batch-size", "-1"), "Invalid --batch-size '-1'"),
    (("--queue", "x", "--batch-size", "abc"), "Invalid --batch-size 'abc'"),
]

#: (oban_update value argv, fragment of the message).
BAD_UPDATES: list[tuple[tuple[str, ...], str]] = [
    ((), "Nothing to update"),
    (("--set-priority", "10"), "from 0 to 9"),
    (("--set-priority", "2147483648"), "from 0 to 9"),
    (("--set-priority", "1.5"), "expected an integer"),
    (("--set-priority", "' OR 1=1 --"), "expected an integer"),
    (("--set-max-attempts", "0"), "at least 1"),
    (("--set-max-attempts", "99999999999999999999"), "at most 2147483647"),
    (("--set-queue", "a\x00"), "NUL character"),
    (("--set-queue", "\udcff"), "lone surrogate"),  # what an undecodable byte in argv becomes
    (("--set-queue", "q" * (MAX_NAME_LENGTH + 1)), f"at most {MAX_NAME_LENGTH} characters"),
    (("--set-worker", "\udcff"), "lone surrogate"),
    (("--set-worker", " "), "non-blank"),
    (("--set-tags", "ok,\udcff"), "lone surrogate"),
    (("--add-tag", "\udcff"), "lone surrogate"),
    (("--add-tag", "a\x00"), "NUL character"),
    (("--set-meta", '{"a": "\\ud800"}'), "lone surrogate"),
    (("--set-meta", '{"a\\u0000": 1}'), "NUL character"),
    (("--set-meta", "[1]"), "JSON object"),
    (("--set-args", '{"a": "\\u0000"}'), "NUL character"),
    (("--set-args", '{"a": "\\udfff\\ud800"}'), "lone surrogate"),
    (("--set-args", "{"), "not valid JSON"),
    (("--set-args", "' OR 1=1 --"), "not valid JSON"),
    (("--set-args", "[" * 100_000 + "]" * 100_000), "nested too deeply"),
    (("--set-args", '{"a":' * 300 + "1" + "}" * 300), "nested more than 256 levels"),
    (("--set-args", '{"a": NaN}'), "JSON cannot represent"),
    (("--set-args", '{"a": -Infinity}'), "JSON cannot represent"),
    (("--set-args", '{"a": 1e999}'), "JSON cannot represent"),
    (("--set-args", '{"a": ' + "9" * 5000 + "}"), "Invalid --set-args"),
    (("--set-args", "null"), "JSON object"),
    (("--schedule-in", "nan"), "Invalid --schedule-in 'nan'"),
    (("--schedule-in=-5",), "Invalid --schedule-in '-5'"),
    (("--schedule-in", "99999999999w"), "out of range"),
    (("--schedule-in", "500000w"), "beyond the year 9999"),
    (("--scheduled-at", "garbage"), "ISO 8601"),
    (("--scheduled-at", "9999-12-31T23:00:00-05:00"), "years 1 to 9999"),
    (("--scheduled-at", "0001-01-01T00:00:00+05:00"), "years 1 to 9999"),
    (("--scheduled-at", "2030-02-30T00:00:00"), "not a valid date"),
    (("--scheduled-at", "2030-01-01T00:00:00+99:00"), "not a valid date"),
    (("--scheduled-at", "2030-01-01\x00"), "NUL character"),
    (("--schedule-in", "5", "--scheduled-at", "2030-01-01T00:00:00"), "not both"),
]

#: (oban_prune argv, fragment of the message).
BAD_PRUNES: list[tuple[tuple[str, ...], str]] = [
    (("--older-than", "nan"), "Invalid --older-than 'nan'"),
    (("--older-than=-5d",), "Invalid --older-than '-5d'"),
    (("--older-than", "\x00"), "Invalid --older-than"),
    (("--older-than", "500000w"), "before the year 1"),
    (("--state", "available"), "only finished jobs"),
    (("--state", "bogus"), "Invalid --state 'bogus'"),
    (("--batch-size", "0"), "Invalid --batch-size '0'"),
]


@pytest.fixture
def every_state() -> list[Job]:
    return [make_job(state) for state in ALL_STATES]


def run(*argv: str, **options: Any) -> str:
    out = io.StringIO()
    call_command(*argv, stdout=out, stderr=io.StringIO(), no_color=True, **options)
    return out.getvalue()


def assert_refused(argv: tuple[Any, ...], message: str, **options: Any) -> None:
    with nothing_changes(), pytest.raises(CommandError) as error:
        run(*argv, **options)
    assert message in str(error.value), str(error.value)[:500]


#: Every command selects through the same parsers (``management/selection.py``): the whole
#: table runs on oban_cancel; the others get one case of each kind (id, both, neither, filter).
EACH_KIND = [("abc",), ("1", "--queue", "default"), (), ("--queue", "a\x00")]
SELECTION_CELLS = [
    pytest.param(command, argv, message, id=f"{command}-{repr(argv)[:60]}")
    for command in SELECTING
    for argv, message in BAD_SELECTIONS
    if command == "oban_cancel" or argv in EACH_KIND
]


@pytest.mark.parametrize(("command", "argv", "message"), SELECTION_CELLS)
def test_a_bad_selection_changes_nothing(
    every_state: list[Job], command: str, argv: tuple[str, ...], message: str
) -> None:
    assert_refused((command, *argv, *SELECTING[command]), message)


@pytest.mark.parametrize(("argv", "message"), BAD_UPDATES, ids=[repr(argv)[:60] for argv, _ in BAD_UPDATES])
def test_a_bad_new_value_changes_nothing(every_state: list[Job], argv: tuple[str, ...], message: str) -> None:
    assert_refused(("oban_update", "--state", JobState.AVAILABLE, *argv), message)
    assert_refused(("oban_update", *(str(job.pk) for job in every_state), *argv), message)


@pytest.mark.parametrize(("argv", "message"), BAD_PRUNES, ids=[repr(argv)[:60] for argv, _ in BAD_PRUNES])
def test_a_bad_prune_deletes_nothing(every_state: list[Job], argv: tuple[str, ...], message: str) -> None:
    old = timedelta(days=365)
    for job in every_state:
        Job.objects.filter(pk=job.pk).update(completed_at=job.inserted_at - old, cancelled_at=job.inserted_at - old)
    assert_refused(("oban_prune", *argv), message)


@pytest.mark.parametrize(
    ("argv", "options", "message"),
    [
        (("oban_update", "1"), {"set_priority": True}, "expected an integer"),
        (("oban_update", "1"), {"set_args": {"a": "\x00"}}, "NUL character"),
        (("oban_update", "1"), {"set_meta": {"a": "\ud800"}}, "lone surrogate"),
        (("oban_update", "1"), {"set_args": {1: "a"}}, "key that is not a string"),
        (("oban_update", "1"), {"set_max_attempts": 2**63}, "at most 2147483647"),
        (("oban_update", "1"), {"schedule_in": timedelta(days=-1)}, "cannot be negative"),
        (("oban_cancel",), {"older_than": -5}, "Invalid --older-than"),
        (("oban_prune",), {"older_than": timedelta(days=-5)}, "cannot be negative"),
        (("oban_prune",), {"older_than": timedelta.max}, "before the year 1"),
    ],
    ids=repr,
)
def test_call_command_with_python_values_is_validated_like_argv(
    every_state: list[Job], argv: tuple[str, ...], options: dict[str, Any], message: str
) -> None:
    assert_refused(argv, message, **options)


def test_sql_looking_filters_match_nothing_and_change_nothing(every_state: list[Job]) -> None:
    with nothing_changes():
        for command in ("oban_cancel", "oban_retry", "oban_delete"):
            for flag in ("--queue", "--worker", "--tag"):
                assert "0 jobs" in run(command, flag, "' OR 1=1 --")


@pytest.mark.postgres
def test_an_undecodable_byte_on_a_real_command_line_is_a_clear_error(manage: Any) -> None:
    job = make_job(JobState.AVAILABLE)
    before = list(Job.objects.order_by("pk").values_list())
    result = manage("oban_update", str(job.pk), "--set-queue", b"mail\xffers".decode("utf-8", "surrogateescape"))
    assert result.returncode == 1, result.stderr
    assert "lone surrogate" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(Job.objects.order_by("pk").values_list()) == before
