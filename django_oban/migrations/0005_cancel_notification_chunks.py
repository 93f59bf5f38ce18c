"""``oban_jobs_cancelled`` notifications carry at most 300 ids each (frozen SQL).

0001's trigger sent up to 1,000 ids per notification: with ids of 8 digits or more that
exceeds PostgreSQL's 8,000-byte payload limit, and the cancelling statement failed. 300 ids
of at most 20 characters and their commas stay under 6,300 bytes.
"""

from typing import Any

from django.db import migrations

UPDATE_FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION oban_jobs_notify_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('oban_jobs_available', q.queue)
  FROM (
    SELECT DISTINCT n.queue
    FROM oban_new_jobs AS n JOIN oban_old_jobs AS o ON o.id = n.id
    WHERE n.state = 'available' AND (o.state <> 'available' OR o.queue <> n.queue)
  ) AS q;
  PERFORM pg_notify('oban_jobs_cancelled', string_agg(c.id::text, ','))
  FROM (
    SELECT n.id, (row_number() OVER () - 1) / 300 AS chunk
    FROM oban_new_jobs AS n JOIN oban_old_jobs AS o ON o.id = n.id
    WHERE o.state = 'executing' AND n.state = 'cancelled'
  ) AS c
  GROUP BY c.chunk;
  RETURN NULL;
END
$$;
"""

# The function as 0001 created it.
PREVIOUS_UPDATE_FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION oban_jobs_notify_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('oban_jobs_available', q.queue)
  FROM (
    SELECT DISTINCT n.queue
    FROM oban_new_jobs AS n JOIN oban_old_jobs AS o ON o.id = n.id
    WHERE n.state = 'available' AND (o.state <> 'available' OR o.queue <> n.queue)
  ) AS q;
  PERFORM pg_notify('oban_jobs_cancelled', string_agg(c.id::text, ','))
  FROM (
    SELECT n.id, (row_number() OVER ()) / 1000 AS chunk
    FROM oban_new_jobs AS n JOIN oban_old_jobs AS o ON o.id = n.id
    WHERE o.state = 'executing' AND n.state = 'cancelled'
  ) AS c
  GROUP BY c.chunk;
  RETURN NULL;
END
$$;
"""


def _on_postgresql(sql: str) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("django_oban", "0004_node_runs")]

    operations = [
        migrations.RunPython(
            _on_postgresql(UPDATE_FUNCTION_SQL), _on_postgresql(PREVIOUS_UPDATE_FUNCTION_SQL), elidable=False
        ),
    ]
