"""Unique jobs: ``unique`` (the options), ``unique_key`` and ``unique_states``, and the index enforcing them (frozen SQL).

A job counts as a duplicate while its ``state`` is one of its own ``states``: the partial
unique index holds exactly those rows, so any statement that changes a job's state (the
worker's included) puts it into or takes it out of the index without a trigger. The state
bits are those of ``JobState`` order: available 1, scheduled 2, executing 4, retryable 8,
completed 16, discarded 32, cancelled 64. The same index SQL serves PostgreSQL and SQLite.
"""

from typing import Any

from django.db import migrations, models

COLUMNS_SQL = {
    "postgresql": [
        'ALTER TABLE oban_jobs ADD COLUMN "unique" jsonb NULL',
        "ALTER TABLE oban_jobs ADD COLUMN unique_key text NULL",
        "ALTER TABLE oban_jobs ADD COLUMN unique_states integer NULL",
    ],
    "sqlite": [
        'ALTER TABLE oban_jobs ADD COLUMN "unique" text NULL CHECK ((JSON_VALID("unique") OR "unique" IS NULL))',
        "ALTER TABLE oban_jobs ADD COLUMN unique_key text NULL",
        "ALTER TABLE oban_jobs ADD COLUMN unique_states integer NULL",
    ],
}
DROP_COLUMNS_SQL = [
    "DROP INDEX oban_jobs_unique",
    'ALTER TABLE oban_jobs DROP COLUMN "unique"',
    "ALTER TABLE oban_jobs DROP COLUMN unique_key",
    "ALTER TABLE oban_jobs DROP COLUMN unique_states",
]
# The predicate is spelled as the queries looking up counting jobs spell it, so that
# PostgreSQL proves they imply it and answers them from this index.
INDEX_SQL = """
CREATE UNIQUE INDEX oban_jobs_unique ON oban_jobs (unique_key)
WHERE unique_key IS NOT NULL AND (unique_states & CASE WHEN state = 'available' THEN 1 WHEN state = 'scheduled' THEN 2 WHEN state = 'executing' THEN 4 WHEN state = 'retryable' THEN 8 WHEN state = 'completed' THEN 16 WHEN state = 'discarded' THEN 32 WHEN state = 'cancelled' THEN 64 ELSE 0 END) > 0
"""


def add(apps: Any, schema_editor: Any) -> None:
    for sql in [*COLUMNS_SQL[schema_editor.connection.vendor], INDEX_SQL]:
        schema_editor.execute(sql)


def drop(apps: Any, schema_editor: Any) -> None:
    for sql in DROP_COLUMNS_SQL:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("django_oban", "0006_cron_slots")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(add, drop, elidable=False)],
            state_operations=[
                migrations.AddField(
                    model_name="job",
                    name="unique",
                    field=models.JSONField(blank=True, editable=False, null=True),
                ),
                migrations.AddField(
                    model_name="job",
                    name="unique_key",
                    field=models.TextField(blank=True, editable=False, null=True),
                ),
                migrations.AddField(
                    model_name="job",
                    name="unique_states",
                    field=models.IntegerField(blank=True, editable=False, null=True),
                ),
            ],
        ),
    ]
