"""Cron expressions: parsing, the latest due slot and the next one, in a time zone.

Expressions are evaluated by `cronsim <https://pypi.org/project/cronsim/>`_, which follows
Debian's cron, daylight saving time included:

- an expression with a fixed minute and hour (``30 2 * * *``) names a local wall-clock time:
  it runs once on each matching day; when that time is skipped (clocks go forward) it runs
  at the first minute after the gap, when it is repeated (clocks go back) only the first
  time;
- an expression with a wildcard (``*``) minute or hour (``*/15 * * * *``, ``0 * * * *``)
  follows elapsed time: the skipped hour has no slots, the repeated hour has its slots twice.

This module imports no models, so that it is usable before the app registry is ready.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from datetime import timezone as dt_timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from django.db import connections
from django.utils import timezone

from ..conditions import is_postgresql

#: The ``@`` aliases and the 5-field expression each stands for (``@reboot`` has none).
ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
#: Runs once each time a node starts, instead of at times.
REBOOT = "@reboot"


class CronExpressionError(ValueError):
    """An expression that is not a 5-field cron expression or a known ``@`` alias."""


def get_timezone(name: str) -> tzinfo:
    """The IANA time zone ``name``; ``ValueError`` if unknown."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{name!r} is not a time zone name")
    if name.upper() == "UTC":
        return dt_timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not a known IANA time zone (e.g. 'UTC', 'Europe/Berlin')") from None


@dataclass(frozen=True)
class Schedule:
    """A parsed cron expression evaluated in ``tz``; ``CronExpressionError`` if invalid."""

    expression: str
    tz: tzinfo = dt_timezone.utc
    fields: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.expression, str):
            raise CronExpressionError(f"a cron expression is a string, not {type(self.expression).__name__}")
        text = " ".join(self.expression.split())
        if text.startswith("@"):
            if text.lower() != REBOOT and text.lower() not in ALIASES:
                known = ", ".join([*ALIASES, REBOOT])
                raise CronExpressionError(f"unknown alias {self.expression!r}; known aliases: {known}")
            object.__setattr__(self, "fields", ALIASES.get(text.lower(), ""))
            return
        if len(text.split()) != 5:
            raise CronExpressionError(
                f"{self.expression!r} has {len(text.split())} fields; a cron expression has 5: "
                "minute hour day-of-month month day-of-week"
            )
        try:
            CronSim(text, datetime(2000, 1, 1, tzinfo=dt_timezone.utc))
        except CronSimError as exc:
            raise CronExpressionError(f"{self.expression!r}: {exc}") from None
        object.__setattr__(self, "fields", text.upper())

    @property
    def is_reboot(self) -> bool:
        """Whether this is ``@reboot``: no time slots, one run per node start."""
        return not self.fields

    def slots_after(self, start: datetime) -> Iterator[datetime]:
        """The slots strictly after ``start`` (aware), as aware datetimes in ``tz``, in order."""
        if self.is_reboot:
            return
        local = start.astimezone(self.tz)
        for slot in CronSim(self.fields, local):
            # A wall-clock slot in a repeated hour can come out before ``start``: skip it.
            if slot > start:
                yield slot

    def next_after(self, now: datetime) -> datetime | None:
        """The first slot after ``now``; None for ``@reboot`` or an expression with none ahead."""
        return next(self.slots_after(now), None)

    def latest_due(self, now: datetime, window: timedelta) -> datetime | None:
        """The latest slot in ``(now - window, now]``, or None: older slots are never run late."""
        latest = None
        for slot in self.slots_after(now - window):
            if slot > now:
                break
            latest = slot
        return latest


def database_now(using: str = "default") -> datetime:
    """The current time by the database's clock on PostgreSQL (every node agrees), else Python's."""
    if not is_postgresql(using):
        return timezone.now()
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT now()")
        value: datetime = cursor.fetchone()[0]
    return value
