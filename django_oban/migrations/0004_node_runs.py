"""``oban_nodes`` becomes one row per run of a node (a surrogate key), no longer one per name.

The table's rows are transient (heartbeats), so it is replaced rather than altered: nodes
running during the upgrade register again when restarted on the new version.
"""

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("django_oban", "0003_admin_indexes")]

    operations = [
        migrations.DeleteModel(name="Node"),
        migrations.CreateModel(
            name="Node",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("name", models.TextField()),
                ("started_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("heartbeat_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "db_table": "oban_nodes",
                "verbose_name": "node",
                "verbose_name_plural": "nodes",
                "indexes": [models.Index(fields=["name", "started_at"], name="oban_nodes_name_started")],
            },
        ),
    ]
