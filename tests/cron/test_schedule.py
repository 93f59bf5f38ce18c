"""Cron expressions against a table of instants: fields, names, aliases, time zones and DST."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import islice

import pytest

from django_oban.cron.schedule import CronExpressionError, Schedule, get_timezone

UTC = get_timezone("UTC")
BERLIN = get_timezone("Europe/Berlin")
NEW_YORK = get_timezone("America/New_York")


def at(text: str) -> datetime:
    """An aware instant from ISO 8601 with an offset."""
    return datetime.fromisoformat(text)


def upcoming(expression: str, after: str, tz=UTC, count: int = 3) -> list[str]:
    return [slot.isoformat() for slot in islice(Schedule(expression, tz).slots_after(at(after)), count)]


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("* * * * *", "2026-01-01T10:00:30+00:00", ["10:01", "10:02", "10:03"]),
        ("*/15 * * * *", "2026-01-01T10:00:00+00:00", ["10:15", "10:30", "10:45"]),
        ("5-7 10 * * *", "2026-01-01T10:05:00+00:00", ["10:06", "10:07", "10:05+1d"]),
        ("0,30 9-10 * * *", "2026-01-01T09:10:00+00:00", ["09:30", "10:00", "10:30"]),
        ("10-50/20 * * * *", "2026-01-01T10:00:00+00:00", ["10:10", "10:30", "10:50"]),
        # 2026-01-01 is a Thursday: the next weekday runs are Friday, then Monday.
        ("0 8 * * MON-FRI", "2026-01-01T09:00:00+00:00", ["08:00+1d", "08:00+4d", "08:00+5d"]),
        ("0 8 * * sat,sun", "2026-01-01T09:00:00+00:00", ["08:00+2d", "08:00+3d", "08:00+9d"]),
        ("0 0 1 JAN,jul *", "2026-01-01T00:00:00+00:00", ["00:00+181d", "00:00+365d", "00:00+546d"]),
        ("0 0 29 2 *", "2026-01-01T00:00:00+00:00", ["00:00+789d", "00:00+2250d", "00:00+3711d"]),
        # Day of month and day of week both restricted: either matches (cron's rule).
        ("0 0 13 * FRI", "2026-02-01T00:00:00+00:00", ["00:00+5d", "00:00+12d", "00:00+19d"]),
        ("0 0 * * 7", "2026-01-01T00:00:00+00:00", ["00:00+3d", "00:00+10d", "00:00+17d"]),
        ("@hourly", "2026-01-01T10:20:00+00:00", ["11:00", "12:00", "13:00"]),
        ("@daily", "2026-01-01T10:20:00+00:00", ["00:00+1d", "00:00+2d", "00:00+3d"]),
        ("@midnight", "2026-01-01T00:00:00+00:00", ["00:00+1d", "00:00+2d", "00:00+3d"]),
        ("@weekly", "2026-01-01T00:00:00+00:00", ["00:00+3d", "00:00+10d", "00:00+17d"]),
        ("@monthly", "2026-01-15T00:00:00+00:00", ["00:00+17d", "00:00+45d", "00:00+76d"]),
        ("@yearly", "2026-01-01T00:00:00+00:00", ["00:00+365d", "00:00+730d", "00:00+1096d"]),
        ("@annually", "2026-06-01T00:00:00+00:00", ["00:00+214d", "00:00+579d", "00:00+945d"]),
        ("  30   4 * *   *  ", "2026-01-01T00:00:00+00:00", ["04:30", "04:30+1d", "04:30+2d"]),
    ],
)
def test_the_slots_after_an_instant_in_utc(expression: str, after: str, expected: list[str]) -> None:
    start = at(after)
    day = start.replace(hour=0, minute=0, second=0)

    def expected_instant(text: str) -> str:
        time, _, days = text.partition("+")
        hour, minute = map(int, time.split(":"))
        return (day + timedelta(days=int(days.rstrip("d") or 0), hours=hour, minutes=minute)).isoformat()

    assert upcoming(expression, after) == [expected_instant(text) for text in expected]


@pytest.mark.parametrize(
    ("expression", "tz", "after", "expected"),
    [
        # Berlin, clocks forward on 2026-03-29 at 02:00 (CET, +01:00) to 03:00 (CEST, +02:00).
        # A fixed time in the skipped hour runs at the first minute after the gap, once.
        ("30 2 * * *", BERLIN, "2026-03-28T12:00:00+01:00", ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"]),
        # A wildcard hour follows elapsed time: the skipped hour has no slot.
        ("0 * * * *", BERLIN, "2026-03-29T00:30:00+01:00", ["2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00"]),
        (
            "*/30 * * * *",
            BERLIN,
            "2026-03-29T01:10:00+01:00",
            ["2026-03-29T01:30:00+01:00", "2026-03-29T03:00:00+02:00"],
        ),
        # Berlin, clocks back on 2026-10-25 at 03:00 (CEST) to 02:00 (CET): 02:00-02:59 happens twice.
        # A fixed time in the repeated hour runs once, the first time (summer time).
        ("30 2 * * *", BERLIN, "2026-10-24T12:00:00+02:00", ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]),
        # ... and not again when asked from inside the repeated hour's second pass.
        ("30 2 * * *", BERLIN, "2026-10-25T02:10:00+01:00", ["2026-10-26T02:30:00+01:00", "2026-10-27T02:30:00+01:00"]),
        # A wildcard hour runs in both passes of the repeated hour.
        (
            "0 * * * *",
            BERLIN,
            "2026-10-25T01:30:00+02:00",
            ["2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T03:00:00+01:00"],
        ),
        # New York: forward on 2026-03-08 at 02:00 EST (-05:00), back on 2026-11-01 at 02:00 EDT (-04:00).
        (
            "15 2 * * *",
            NEW_YORK,
            "2026-03-07T12:00:00-05:00",
            ["2026-03-08T03:00:00-04:00", "2026-03-09T02:15:00-04:00"],
        ),
        (
            "30 1 * * *",
            NEW_YORK,
            "2026-10-31T12:00:00-04:00",
            ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"],
        ),
        (
            "30 * * * *",
            NEW_YORK,
            "2026-11-01T00:45:00-04:00",
            ["2026-11-01T01:30:00-04:00", "2026-11-01T01:30:00-05:00", "2026-11-01T02:30:00-05:00"],
        ),
        # A daily time is local: 09:00 in New York is 14:00 UTC in winter, 13:00 UTC in summer.
        (
            "0 9 * * *",
            NEW_YORK,
            "2026-03-07T10:00:00+00:00",
            ["2026-03-07T09:00:00-05:00", "2026-03-08T09:00:00-04:00"],
        ),
    ],
)
def test_the_slots_in_a_time_zone_across_daylight_saving_changes(expression, tz, after, expected) -> None:
    slots = list(islice(Schedule(expression, tz).slots_after(at(after)), len(expected)))
    assert [slot.isoformat() for slot in slots] == expected
    assert all(slot.tzinfo is not None for slot in slots)
    assert [slot.timestamp() for slot in slots] == sorted({slot.timestamp() for slot in slots})  # distinct, rising


@pytest.mark.parametrize(
    ("expression", "now", "expected"),
    [
        ("0 * * * *", "2026-01-01T10:00:00+00:00", "2026-01-01T10:00:00+00:00"),  # due at the instant
        ("0 * * * *", "2026-01-01T10:00:59+00:00", "2026-01-01T10:00:00+00:00"),  # within the window
        ("0 * * * *", "2026-01-01T10:01:00+00:00", None),  # a minute late: not run
        ("0 * * * *", "2026-01-01T10:30:00+00:00", None),
        ("* * * * *", "2026-01-01T10:05:30+00:00", "2026-01-01T10:05:00+00:00"),  # the latest, not 10:04:59's
        ("@reboot", "2026-01-01T10:00:00+00:00", None),
    ],
)
def test_only_the_latest_slot_within_the_window_is_due(expression: str, now: str, expected: str | None) -> None:
    due = Schedule(expression).latest_due(at(now), timedelta(seconds=60))
    assert (due.isoformat() if due else None) == expected


def test_reboot_has_no_slots_and_no_next_run() -> None:
    schedule = Schedule("@reboot", BERLIN)
    assert schedule.is_reboot and schedule.next_after(at("2026-01-01T00:00:00+00:00")) is None


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "has 4 fields"),
        ("0 * * * * *", "has 6 fields"),  # no seconds field
        ("", "has 0 fields"),
        ("60 * * * *", "Bad minute"),
        ("* 24 * * *", "Bad hour"),
        ("* * 0 * *", "Bad day-of-month"),
        ("* * 31 4 *", "Bad day-of-month"),  # never: April has 30 days
        ("* * * 13 *", "Bad month"),
        ("* * * * 8", "Bad day-of-week"),
        ("* * * FOO *", "Bad month"),
        ("*/0 * * * *", "Bad minute"),
        ("5-1 * * * *", "Bad minute"),
        ("@every_minute", "unknown alias"),
        ("@reboot now", "unknown alias"),
        (15, "a string, not int"),
        (None, "a string, not NoneType"),
    ],
)
def test_a_bad_expression_is_refused_with_what_is_wrong(expression, message: str) -> None:
    with pytest.raises(CronExpressionError, match=message):
        Schedule(expression)


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", None, 5])
def test_an_unknown_time_zone_is_refused(name) -> None:
    with pytest.raises(ValueError, match="time zone"):
        get_timezone(name)
