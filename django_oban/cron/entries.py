"""``OBAN["CRON"]`` entries: validation (the system checks' ``E030``…``E035``) and the jobs they make.

An entry is ``(expression, worker_path)`` or ``(expression, worker_path, options)`` with
``options`` a dict of any of ``args``, ``queue``, ``priority``, ``tags``, ``meta`` and
``max_attempts`` (the worker class's defaults otherwise), checked with the rules of
``Worker.new()``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, tzinfo
from datetime import timezone as dt_timezone
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.utils.module_loading import import_string

from ..conf import oban_settings
from .schedule import REBOOT, CronExpressionError, Schedule, get_timezone

if TYPE_CHECKING:
    from ..models import Job
    from ..workers import Worker

#: The keys an entry's options dict may have.
OPTION_KEYS = ("args", "queue", "priority", "tags", "meta", "max_attempts")


class CronConfigError(ValueError):
    """A bad ``OBAN["CRON"]`` or ``OBAN["TIMEZONE"]``, with the system check's id and a hint."""

    def __init__(self, message: str, check_id: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.check_id = check_id
        self.hint = hint


@dataclass(frozen=True)
class CronEntry:
    """One valid entry of ``OBAN["CRON"]``; ``key`` identifies it across nodes and restarts."""

    schedule: Schedule
    worker: type[Worker]
    worker_path: str
    options: dict[str, Any]
    key: str

    @property
    def expression(self) -> str:
        return self.schedule.expression

    @property
    def queue(self) -> str:
        """The queue of this entry's jobs."""
        queue: str = self.options.get("queue", self.worker.queue)
        return queue

    def new_job(self, slot: str) -> Job:
        """An unsaved job of this entry for ``slot``, with ``meta["cron"]`` and ``meta["cron_slot"]``."""
        options = dict(self.options)
        meta = {**options.pop("meta", {}), "cron": self.expression, "cron_slot": slot}
        return self.worker.new(options.pop("args", None), meta=meta, **options)

    def next_run(self, now: datetime) -> datetime | None:
        """When this entry's next slot is due after ``now`` (None for ``@reboot``)."""
        return self.schedule.next_after(now)


def configured_timezone() -> tzinfo:
    """``OBAN["TIMEZONE"]`` as a time zone; ``CronConfigError`` (E034) if unknown."""
    name = oban_settings.TIMEZONE
    try:
        return get_timezone(name)
    except ValueError as exc:
        raise CronConfigError(
            f"OBAN['TIMEZONE'] {exc}.", "django_oban.E034", hint="Use an IANA name such as 'UTC' or 'Europe/Berlin'."
        ) from None


def configured_entries() -> list[CronEntry]:
    """The entries of ``OBAN["CRON"]``; ``CronConfigError`` for the first bad one."""
    errors, entries = validate(oban_settings.CRON)
    if errors:
        raise errors[0]
    return entries


def validate(setting: Any) -> tuple[list[CronConfigError], list[CronEntry]]:
    """Every problem of ``setting`` (an ``OBAN["CRON"]`` value) and the valid entries."""
    errors: list[CronConfigError] = []
    try:
        tz = configured_timezone()
    except CronConfigError as exc:
        errors.append(exc)
        tz = dt_timezone.utc  # the entries are still checked
    if not isinstance(setting, (list, tuple)):
        hint = 'For example [("*/15 * * * *", "app.workers.Report")].'
        errors.append(
            CronConfigError(f"OBAN['CRON'] must be a list of entries, not {setting!r}.", "django_oban.E030", hint)
        )
        return errors, []
    entries: dict[str, CronEntry] = {}
    for index, raw in enumerate(setting):
        try:
            entry = parse_entry(raw, tz, f"OBAN['CRON'][{index}]")
        except CronConfigError as exc:
            errors.append(exc)
            continue
        if entry.key in entries:
            errors.append(
                CronConfigError(
                    f"OBAN['CRON'][{index}] repeats an earlier entry ({entry.expression!r}, {entry.worker_path!r}).",
                    "django_oban.E035",
                    hint="Remove it, or give it different options (e.g. args).",
                )
            )
            continue
        entries[entry.key] = entry
    return errors, list(entries.values())


def parse_entry(raw: Any, tz: tzinfo, where: str) -> CronEntry:
    """One entry as a ``CronEntry``; ``CronConfigError`` naming ``where`` if invalid."""
    if not isinstance(raw, (list, tuple)) or len(raw) not in (2, 3):
        raise CronConfigError(
            f"{where} must be (expression, worker_path) or (expression, worker_path, options), not {raw!r}.",
            "django_oban.E031",
            hint='For example ("@daily", "app.workers.Cleanup", {"queue": "maintenance"}).',
        )
    expression, worker_path, options = (*raw, {}) if len(raw) == 2 else raw
    try:
        schedule = Schedule(expression, tz)
    except CronExpressionError as exc:
        raise CronConfigError(
            f"{where} has a bad cron expression: {exc}.",
            "django_oban.E031",
            hint="Five fields (minute hour day-of-month month day-of-week, e.g. '*/15 * * * *') "
            "or one of @hourly, @daily, @weekly, @monthly, @yearly, @annually, @reboot.",
        ) from None
    worker = load_worker(worker_path, where)
    clean_options = check_options(options, worker, where)
    key = entry_key(schedule.fields or REBOOT, worker_path, clean_options)
    return CronEntry(schedule, worker, worker_path, clean_options, key)


def load_worker(path: Any, where: str) -> type[Worker]:
    """The ``Worker`` subclass at the dotted ``path``; ``CronConfigError`` (E032) otherwise."""
    from ..workers import Worker

    hint = "A dotted path to a Worker subclass, e.g. 'app.workers.Report'."
    if not isinstance(path, str) or not path.strip():
        raise CronConfigError(
            f"{where} has the worker path {path!r}; it must be a dotted path.", "django_oban.E032", hint
        )
    try:
        worker = import_string(path)
    except ImportError as exc:
        raise CronConfigError(
            f"{where} names a worker that cannot be imported: {exc}.", "django_oban.E032", hint
        ) from None
    if not (isinstance(worker, type) and issubclass(worker, Worker)):
        raise CronConfigError(f"{where}: {path!r} is not a Worker subclass.", "django_oban.E032", hint)
    return worker


def check_options(options: Any, worker: type[Worker], where: str) -> dict[str, Any]:
    """``options`` checked by building (not saving) a job with them; ``CronConfigError`` (E033)."""
    hint = f"Options are a dict of any of {', '.join(OPTION_KEYS)}."
    if not isinstance(options, dict):
        raise CronConfigError(f"{where} has options {options!r}; they must be a dict.", "django_oban.E033", hint)
    unknown = sorted(set(options) - set(OPTION_KEYS), key=str)
    if unknown:
        raise CronConfigError(
            f"{where} has unknown options: {', '.join(map(repr, unknown))}.", "django_oban.E033", hint
        )
    probe = dict(options)
    try:
        job = worker.new(probe.pop("args", None), **probe)
        job.clean()
    except ValidationError as exc:
        problems = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in exc.message_dict.items())
        raise CronConfigError(f"{where} has invalid options ({problems}).", "django_oban.E033", hint) from None
    except TypeError as exc:
        raise CronConfigError(f"{where} has invalid options ({exc}).", "django_oban.E033", hint) from None
    return dict(options)


def entry_of(job: Job, entries: list[CronEntry]) -> CronEntry | None:
    """The entry of ``entries`` that inserts jobs like ``job``: its ``meta["cron"]`` expression and
    its worker (and its args, when several entries share both); ``None`` if no entry does."""
    meta = job.meta if isinstance(job.meta, dict) else {}
    alike = [entry for entry in entries if (entry.expression, entry.worker_path) == (meta.get("cron"), job.worker)]
    same_args = [entry for entry in alike if entry.options.get("args", {}) == job.args]
    return next(iter(same_args or alike), None)


def entry_key(fields: str, worker_path: str, options: dict[str, Any]) -> str:
    """A stable id of an entry: the same on every node and across restarts while its schedule
    (``fields``: the 5 fields, aliases resolved), worker and options are unchanged."""
    text = json.dumps([fields, worker_path, options], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
