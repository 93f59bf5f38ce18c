"""``oban_cron_slots``: one row per periodic job inserted, keyed by (entry, slot) (frozen SQL).

The primary key is what makes a cron slot's job exactly-once across nodes: the leader inserts
the slot's row with ``ON CONFLICT DO NOTHING`` in the transaction that inserts the job, so a
second leader (or a second tick) finds the row and inserts nothing. ``slot`` is text: the
slot's instant in UTC (ISO 8601) or ``reboot:<node run id>`` for ``@reboot`` entries. The
same SQL serves PostgreSQL and SQLite.
"""

from django.db import migrations

CREATE_SQL = """
CREATE TABLE oban_cron_slots (
  entry text NOT NULL,
  slot text NOT NULL,
  inserted_at timestamp with time zone NOT NULL,
  PRIMARY KEY (entry, slot)
)
"""

DROP_SQL = "DROP TABLE oban_cron_slots"


class Migration(migrations.Migration):
    dependencies = [("django_oban", "0005_cancel_notification_chunks")]

    operations = [migrations.RunSQL(CREATE_SQL, DROP_SQL)]
