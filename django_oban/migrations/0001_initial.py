# Written by hand: constraints go through django_oban.compat so the file loads on every
# supported Django, and PostgreSQL gets the NOTIFY triggers of django_oban.notify.

import django.core.validators
import django.utils.timezone
from django.db import migrations, models

from django_oban.compat import check_constraint
from django_oban.notify import CREATE_TRIGGERS_SQL, DROP_TRIGGERS_SQL


def _on_postgresql(sql):
    def run(apps, schema_editor):
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
