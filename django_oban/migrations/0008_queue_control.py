"""Queue control: ``oban_queue_controls``, each node run's view of its queues, ``control_queue`` (frozen SQL).

``oban_queue_controls`` holds what operators set (paused, limit) per queue, for every node
(``node = ''``) or one node. On PostgreSQL a trigger publishes the queue of every changed row
on ``oban_queues_changed`` (once per queue and transaction, on commit), for every writer.
``oban_nodes.queues`` is how each node run runs its queues, written with its heartbeat.
"""

from typing import Any

import django
import django.utils.timezone
from django.db import migrations, models

NOTIFY_SQL = """
CREATE FUNCTION oban_queue_controls_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('oban_queues_changed', OLD.queue);
  ELSE
    PERFORM pg_notify('oban_queues_changed', NEW.queue);
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER oban_queue_controls_notify AFTER INSERT OR UPDATE OR DELETE ON oban_queue_controls
FOR EACH ROW EXECUTE FUNCTION oban_queue_controls_notify();
"""

DROP_NOTIFY_SQL = """
DROP TRIGGER IF EXISTS oban_queue_controls_notify ON oban_queue_controls;
DROP FUNCTION IF EXISTS oban_queue_controls_notify();
"""


def _on_postgresql(sql: str) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


def _check_constraint(condition: models.Q, name: str) -> models.CheckConstraint:
    """A ``CheckConstraint``; Django 5.1 renamed its ``check`` argument to ``condition``."""
    if django.VERSION >= (5, 1):
        return models.CheckConstraint(condition=condition, name=name)
    return models.CheckConstraint(check=condition, name=name)  # type: ignore[call-arg]


class Migration(migrations.Migration):
    dependencies = [("django_oban", "0007_unique_jobs")]

    operations = [
        migrations.AlterModelOptions(
            name="job",
            options={
                "verbose_name": "job",
                "verbose_name_plural": "jobs",
                "permissions": [
                    ("cancel_job", "Can cancel job"),
                    ("retry_job", "Can retry job"),
                    ("control_queue", "Can pause, resume and scale queues"),
                ],
            },
        ),
        migrations.AddField(model_name="node", name="queues", field=models.JSONField(default=dict)),
        migrations.CreateModel(
            name="QueueControl",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("queue", models.TextField()),
                ("node", models.TextField(blank=True, default="")),
                ("paused", models.BooleanField(null=True)),
                ("limit", models.IntegerField(null=True)),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "verbose_name": "queue control",
                "verbose_name_plural": "queue controls",
                "db_table": "oban_queue_controls",
                "constraints": [
                    models.UniqueConstraint(fields=("queue", "node"), name="oban_queue_controls_queue_node"),
                    _check_constraint(models.Q(limit__gte=1), "oban_queue_controls_limit_positive"),
                ],
            },
        ),
        migrations.RunPython(_on_postgresql(NOTIFY_SQL), _on_postgresql(DROP_NOTIFY_SQL), elidable=False),
    ]
