"""``OBAN["CRON"]`` and ``OBAN["TIMEZONE"]`` are checked at start-up: ``manage.py check`` fails."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from django_oban.checks import check_oban_settings

NOOP = "tests.workers.Noop"


def errors(**oban):
    with override_settings(OBAN={"QUEUES": {"default": 1}, **oban}):
        return [(error.id, error.msg, error.hint) for error in check_oban_settings()]


def test_a_valid_configuration_passes() -> None:
    cron = [
        ("*/15 * * * *", NOOP),
        ["0 8 * * MON-FRI", NOOP, {"args": {"report": "daily"}, "queue": "reports", "priority": 3}],
        ("@reboot", NOOP),
        ("@daily", "tests.workers.SendEmail", {"tags": ["nightly"], "meta": {"team": "ops"}, "max_attempts": 2}),
        ("@daily", NOOP, {"args": {"region": "eu"}}),
        ("@daily", NOOP, {"args": {"region": "us"}}),  # the same worker and time, other args: another entry
    ]
    assert errors(CRON=cron, TIMEZONE="Europe/Berlin") == []


def test_a_bad_expression_fails_manage_py_check() -> None:
    with override_settings(OBAN={"CRON": [("*/15 * * *", NOOP)]}), pytest.raises(SystemCheckError) as raised:
        call_command("check")
    text = str(raised.value)
    assert "django_oban.E031" in text and "OBAN['CRON'][0] has a bad cron expression" in text
    assert "has 4 fields" in text and "HINT: Five fields" in text


@pytest.mark.parametrize(
    ("cron", "check_id", "words"),
    [
        ("*/5 * * * *", "django_oban.E030", "must be a list of entries"),
        ({"report": "@daily"}, "django_oban.E030", "must be a list of entries"),
        (["@daily"], "django_oban.E031", "must be (expression, worker_path)"),
        ([("@daily", NOOP, {}, "extra")], "django_oban.E031", "must be (expression, worker_path)"),
        ([("61 * * * *", NOOP)], "django_oban.E031", "Bad minute"),
        ([("@fortnightly", NOOP)], "django_oban.E031", "unknown alias '@fortnightly'"),
        ([(None, NOOP)], "django_oban.E031", "a string, not NoneType"),
        ([("@daily", "tests.workers.NoSuchWorker")], "django_oban.E032", "cannot be imported"),
        ([("@daily", "no_such_module.Worker")], "django_oban.E032", "cannot be imported"),
        ([("@daily", "tests")], "django_oban.E032", "cannot be imported"),
        ([("@daily", "django_oban.conf.ObanSettings")], "django_oban.E032", "is not a Worker subclass"),
        ([("@daily", "django_oban.conf.oban_settings")], "django_oban.E032", "is not a Worker subclass"),
        ([("@daily", "")], "django_oban.E032", "must be a dotted path"),
        ([("@daily", NOOP, ["args"])], "django_oban.E033", "must be a dict"),
        ([("@daily", NOOP, {"args": {}, "unique": True})], "django_oban.E033", "unknown options: 'unique'"),
        ([("@daily", NOOP, {"priority": 12})], "django_oban.E033", "priority"),
        ([("@daily", NOOP, {"args": [1, 2]})], "django_oban.E033", "args"),
        ([("@daily", NOOP, {"queue": " "})], "django_oban.E033", "queue"),
        ([("@daily", NOOP, {"tags": "urgent"})], "django_oban.E033", "tags"),
        ([("@daily", NOOP, {"meta": {"bad": float("nan")}})], "django_oban.E033", "meta"),
        ([("@daily", NOOP, {"max_attempts": 0})], "django_oban.E033", "max_attempts"),
        ([("@daily", NOOP), ("0 0 * * *", NOOP)], "django_oban.E035", "repeats an earlier entry"),
        (
            [("@midnight", NOOP, {"args": {"a": 1}}), ("@daily", NOOP, {"args": {"a": 1}})],
            "django_oban.E035",
            "repeats",
        ),
        ([("@daily", NOOP), ("@daily", NOOP)], "django_oban.E035", "repeats an earlier entry"),
    ],
)
def test_each_bad_entry_is_an_error_with_its_id_and_a_hint(cron, check_id: str, words: str) -> None:
    found = errors(CRON=cron)
    assert [error_id for error_id, _, _ in found] == [check_id], found
    (_, message, hint) = found[0]
    assert words in message and hint


def test_every_bad_entry_is_reported_not_only_the_first() -> None:
    cron = [("@daily", NOOP), ("bad", NOOP), ("@daily", "nowhere.Worker"), ("@hourly", NOOP, {"priority": -1})]
    found = errors(CRON=cron)
    assert [(error_id, message.split(" ")[0]) for error_id, message, _ in found] == [
        ("django_oban.E031", "OBAN['CRON'][1]"),
        ("django_oban.E032", "OBAN['CRON'][2]"),
        ("django_oban.E033", "OBAN['CRON'][3]"),
    ]


@pytest.mark.parametrize("timezone", ["Mars/Olympus", "", 3, None])
def test_an_unknown_timezone_is_an_error(timezone) -> None:
    found = errors(CRON=[("@daily", NOOP)], TIMEZONE=timezone)
    assert [error_id for error_id, _, _ in found] == ["django_oban.E034"]
    assert "OBAN['TIMEZONE']" in found[0][1] and "Europe/Berlin" in found[0][2]


def test_an_unknown_timezone_fails_manage_py_check_even_without_entries() -> None:
    with override_settings(OBAN={"TIMEZONE": "Europe/Atlantis"}), pytest.raises(SystemCheckError, match=r"E034"):
        call_command("check")


def test_the_defaults_have_no_cron_and_pass() -> None:
    assert errors() == []
