"""Indexes for the admin on a large table: by worker (all engines), by tag (PostgreSQL only)."""

from typing import Any

from django.db import migrations, models

# ``tags @> '["x"]'`` (searching jobs by tag). A GIN index exists only on PostgreSQL, so it is
# made with SQL there and is not part of the model state.
TAGS_INDEX = "CREATE INDEX IF NOT EXISTS oban_jobs_tags ON oban_jobs USING gin (tags jsonb_path_ops)"
DROP_TAGS_INDEX = "DROP INDEX IF EXISTS oban_jobs_tags"


def _on_postgresql(sql: str) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("django_oban", "0002_node")]

    operations = [
        migrations.AddIndex(
            model_name="job",
            index=models.Index(fields=["worker"], name="oban_jobs_worker"),
        ),
        migrations.RunPython(_on_postgresql(TAGS_INDEX), _on_postgresql(DROP_TAGS_INDEX), elidable=False),
    ]
