import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("django_oban", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="Node",
            fields=[
                ("name", models.TextField(primary_key=True, serialize=False)),
                ("started_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("heartbeat_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={"db_table": "oban_nodes", "verbose_name": "node", "verbose_name_plural": "nodes"},
        ),
    ]
