"""Inserting cron jobs: each (entry, slot) once, enforced by ``oban_cron_slots``'s primary key.

The slot's row is inserted with ``ON CONFLICT DO NOTHING`` in the transaction that inserts
its job: whoever inserts the row second (another leader in a split moment, a leader after a
failover, a retried tick) waits for the first transaction, finds the row and inserts no job.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.db import connections, transaction

from ..models import Job
from . import schedule
from .entries import CronEntry

logger = logging.getLogger("django_oban.cron")

TABLE = "oban_cron_slots"
#: How late a slot may still be inserted: a slot older than this when a leader first sees it
#: (the cluster was down, or no node led) is skipped, never replayed.
WINDOW = timedelta(seconds=60)
#: How long a slot's row is kept (``prune``); far longer than ``WINDOW``, after which no one looks at it.
RETENTION = timedelta(days=1)

INSERT_SQL = f"INSERT INTO {TABLE} (entry, slot, inserted_at) VALUES (%s, %s, %s) ON CONFLICT (entry, slot) DO NOTHING"
PRUNE_SQL = f"DELETE FROM {TABLE} WHERE inserted_at < %s"
LAST_SLOTS_SQL = f"SELECT entry, max(slot) FROM {TABLE} WHERE slot NOT LIKE 'reboot:%%' GROUP BY entry"


def slot_id(slot: datetime) -> str:
    """How a slot is stored and shown in ``meta["cron_slot"]``: its instant in UTC, ISO 8601."""
    return slot.astimezone(dt_timezone.utc).isoformat()


def reboot_slot_id(run_id: int) -> str:
    """The slot of an ``@reboot`` entry for the node run ``run_id``."""
    return f"reboot:{run_id}"


def insert_slot(entry: CronEntry, slot: str, now: datetime, using: str = "default") -> Job | None:
    """Insert ``entry``'s job for ``slot`` unless that slot already has one; the job, or None."""
    connection = connections[using]
    with transaction.atomic(using=using):
        with connection.cursor() as cursor:
            cursor.execute(INSERT_SQL, [entry.key, slot, connection.ops.adapt_datetimefield_value(now)])
            if cursor.rowcount != 1:
                return None
        job = entry.new_job(slot)
        job.save(using=using)
    logger.info("cron entry %r inserted job %s for slot %s", entry.expression, job.pk, slot)
    return job


def prune(using: str = "default") -> int:
    """Delete the slot rows older than ``RETENTION`` by the database's clock (the leader's prune
    thread calls it); how many."""
    connection = connections[using]
    cutoff = connection.ops.adapt_datetimefield_value(schedule.database_now(using) - RETENTION)
    with connection.cursor() as cursor:
        cursor.execute(PRUNE_SQL, [cutoff])
        deleted: int = cursor.rowcount
    return deleted


def last_slots(using: str = "default") -> dict[str, str]:
    """The latest slot inserted for each entry key within ``RETENTION`` (``@reboot`` aside)."""
    with connections[using].cursor() as cursor:
        cursor.execute(LAST_SLOTS_SQL)
        return {entry: slot for entry, slot in cursor.fetchall()}


class CronScheduler:
    """A node's side of cron: ``tick()`` as leader inserts due slots, ``reboot()`` once per start.

    It remembers the slot each entry last handled so that a tick costs no statement until a
    new slot is due; that memory is an optimisation only, the table is the guarantee.
    """

    def __init__(self, entries: list[CronEntry], window: timedelta = WINDOW) -> None:
        self.entries = [entry for entry in entries if not entry.schedule.is_reboot]
        self.reboot_entries = [entry for entry in entries if entry.schedule.is_reboot]
        self.window = window
        self.handled: dict[str, datetime] = {}
        self.rebooted = False

    def tick(self, using: str = "default") -> list[Job]:
        """Insert the job of each entry's latest due slot (within ``window``) not yet inserted."""
        if not self.entries:
            return []
        now = schedule.database_now(using)
        inserted = []
        for entry in self.entries:
            slot = entry.schedule.latest_due(now, self.window)
            if slot is None or self.handled.get(entry.key) == slot:
                continue
            job = insert_slot(entry, slot_id(slot), now, using)
            self.handled[entry.key] = slot
            if job is not None:
                inserted.append(job)
        return inserted

    def reboot(self, run_id: int, using: str = "default") -> list[Job]:
        """Insert the job of each ``@reboot`` entry for the node run ``run_id``; later calls do nothing.

        Safe to call again after an error: the slot ``reboot:<run_id>`` keeps it to one job per run.
        """
        if self.rebooted or not self.reboot_entries:
            return []
        now = schedule.database_now(using)
        jobs = [insert_slot(entry, reboot_slot_id(run_id), now, using) for entry in self.reboot_entries]
        self.rebooted = True
        return [job for job in jobs if job is not None]
