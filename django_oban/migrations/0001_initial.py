# Frozen: everything this migration runs is written out here, as it was when it shipped, so
# that editing the package can never change what an applied migration did. Later changes to
# the triggers go in new migrations.

from typing import Any

import django
import django.core.validators
import django.utils.timezone
from django.db import migrations, models

# The NOTIFY triggers (PostgreSQL only); see django_oban.notify for the channels.
CREATE_TRIGGERS_SQL = """
CREATE OR REPLACE FUNCTION oban_jobs_notify_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('oban_jobs_available', q.queue)
  FROM (SELECT DISTINCT queue FROM oban_new_jobs WHERE state = 'available') AS q;
  RETURN NULL;
END
$$;

CREATE TRIGGER oban_jobs_notify_insert AFTER INSERT ON oban_jobs
REFERENCING NEW TABLE AS oban_new_jobs
FOR EACH STATEMENT EXECUTE FUNCTION oban_jobs_notify_insert();

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

CREATE TRIGGER oban_jobs_notify_update AFTER UPDATE ON oban_jobs
REFERENCING OLD TABLE AS oban_old_jobs NEW TABLE AS oban_new_jobs
FOR EACH STATEMENT EXECUTE FUNCTION oban_jobs_notify_update();
"""

DROP_TRIGGERS_SQL = """
DROP TRIGGER IF EXISTS oban_jobs_notify_update ON oban_jobs;
DROP TRIGGER IF EXISTS oban_jobs_notify_insert ON oban_jobs;
DROP FUNCTION IF EXISTS oban_jobs_notify_update();
DROP FUNCTION IF EXISTS oban_jobs_notify_insert();
"""


def check_constraint(condition: models.Q, name: str) -> models.CheckConstraint:
    """A ``CheckConstraint``; Django 5.1 renamed its ``check`` argument to ``condition``."""
    if django.VERSION >= (5, 1):
        return models.CheckConstraint(condition=condition, name=name)
    return models.CheckConstraint(check=condition, name=name)  # type: ignore[call-arg]


def _on_postgresql(sql: str) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):

    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name='Job',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('state', models.TextField(choices=[('available', 'available'), ('scheduled', 'scheduled'), ('executing', 'executing'), ('retryable', 'retryable'), ('completed', 'completed'), ('discarded', 'discarded'), ('cancelled', 'cancelled')], default='available')),
                ('queue', models.TextField(default='default')),
                ('worker', models.TextField(help_text='Dotted path of the worker class.')),
                ('args', models.JSONField(blank=True, default=dict)),
                ('meta', models.JSONField(blank=True, default=dict)),
                ('tags', models.JSONField(blank=True, default=list)),
                ('errors', models.JSONField(blank=True, default=list)),
                ('attempt', models.IntegerField(default=0, validators=[django.core.validators.MinValueValidator(0)])),
                ('max_attempts', models.IntegerField(default=20, validators=[django.core.validators.MinValueValidator(1)])),
                ('priority', models.SmallIntegerField(default=0, help_text='0 (highest) to 9 (lowest).', validators=[django.core.validators.MinValueValidator(0), django.core.validators.MaxValueValidator(9)])),
                ('attempted_by', models.JSONField(blank=True, default=list)),
                ('inserted_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('scheduled_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('attempted_at', models.DateTimeField(blank=True, null=True)),
                ('completed_at', models.DateTimeField(blank=True, null=True)),
                ('cancelled_at', models.DateTimeField(blank=True, null=True)),
                ('discarded_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'verbose_name': 'job',
                'verbose_name_plural': 'jobs',
                'db_table': 'oban_jobs',
                'permissions': [('cancel_job', 'Can cancel job'), ('retry_job', 'Can retry job')],
                'indexes': [models.Index(condition=models.Q(('state', 'available')), fields=['queue', 'priority', 'scheduled_at', 'id'], name='oban_jobs_fetch'), models.Index(condition=models.Q(('state__in', ['scheduled', 'retryable'])), fields=['scheduled_at', 'id'], name='oban_jobs_staging'), models.Index(condition=models.Q(('state', 'completed')), fields=['completed_at'], name='oban_jobs_prune_completed'), models.Index(condition=models.Q(('state', 'cancelled')), fields=['cancelled_at'], name='oban_jobs_prune_cancelled'), models.Index(condition=models.Q(('state', 'discarded')), fields=['discarded_at'], name='oban_jobs_prune_discarded'), models.Index(fields=['state', 'queue'], name='oban_jobs_state_queue')],
                'constraints': [check_constraint(models.Q(('state__in', ['available', 'scheduled', 'executing', 'retryable', 'completed', 'discarded', 'cancelled'])), 'oban_jobs_state_valid'), check_constraint(models.Q(('priority__gte', 0), ('priority__lte', 9)), 'oban_jobs_priority_range'), check_constraint(models.Q(('max_attempts__gt', 0)), 'oban_jobs_max_attempts_positive'), check_constraint(models.Q(('attempt__gte', 0), ('attempt__lte', models.F('max_attempts'))), 'oban_jobs_attempt_range'), check_constraint(models.Q(('queue__regex', '\\S')), 'oban_jobs_queue_not_blank'), check_constraint(models.Q(('worker__regex', '\\S')), 'oban_jobs_worker_not_blank')],
            },
        ),
        migrations.RunPython(
            _on_postgresql(CREATE_TRIGGERS_SQL), _on_postgresql(DROP_TRIGGERS_SQL), elidable=False
        ),
    ]
