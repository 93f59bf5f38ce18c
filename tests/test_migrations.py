"""The migrations match the models, are frozen, and build the whole schema from scratch."""

from __future__ import annotations

import ast
from io import StringIO
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from django_oban import migrations as migrations_package
from django_oban.models import Job, Node
from django_oban.notify import AVAILABLE_CHANNEL, CANCELLED_CHANNEL
from django_oban.states import JobState
from tests.conftest import make_job

MIGRATIONS = sorted(Path(migrations_package.__file__).parent.glob("0*.py"))
TRIGGERS = {"oban_jobs_notify_insert", "oban_jobs_notify_update"}


@pytest.mark.django_db
def test_the_migrations_describe_the_models_exactly() -> None:
    out = StringIO()
    call_command("makemigrations", "django_oban", "--check", "--dry-run", stdout=out)  # SystemExit if not
    assert "No changes detected" in out.getvalue()


@pytest.mark.parametrize("path", MIGRATIONS, ids=lambda path: path.name)
def test_a_migration_imports_nothing_from_the_package_so_editing_it_cannot_change_the_migration(path: Path) -> None:
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    assert not [name for name in imported if name.startswith((".", "django_oban"))]


def triggers() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = 'oban_jobs'::regclass AND NOT tgisinternal")
        return {name for (name,) in cursor.fetchall()}


def tables() -> set[str]:
    return set(connection.introspection.table_names())


@pytest.fixture
def migrated_from_scratch():
    """Unapply every migration of the app, then apply them all again."""
    call_command("migrate", "django_oban", "zero", verbosity=0)
    assert not {Job._meta.db_table, Node._meta.db_table} & tables()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_proc WHERE proname LIKE 'oban_jobs_notify_%'")
            assert cursor.fetchone()[0] == 0
    call_command("migrate", "django_oban", verbosity=0)


@pytest.mark.django_db(transaction=True)
def test_the_migrations_apply_from_scratch_and_the_models_work(migrated_from_scratch) -> None:
    assert {Job._meta.db_table, Node._meta.db_table} <= tables()
    make_job(JobState.EXECUTING)
    node = Node.objects.create(name="web-1")
    Node.objects.create(name="web-1")  # one row per run: names repeat
    assert Node.objects.filter(name="web-1").count() == 2 and node.pk
    assert Job.objects.cancel() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_migrated_from_scratch_postgresql_has_the_triggers_and_they_publish(migrated_from_scratch) -> None:
    assert triggers() == TRIGGERS
    executing = make_job(JobState.EXECUTING)
    params = connection.get_connection_params()
    options = {key: value for key, value in params.items() if key not in ("cursor_factory", "context")}
    with psycopg.connect(**options, autocommit=True) as listener:
        listener.execute(f"LISTEN {AVAILABLE_CHANNEL}")
        listener.execute(f"LISTEN {CANCELLED_CHANNEL}")

        Job.objects.filter(pk=executing.pk).cancel()
        Job.objects.create(worker="tests.workers.Noop", queue="mailers")

        received = [(n.channel, n.payload) for n in listener.notifies(timeout=10, stop_after=2)]
    assert received == [(CANCELLED_CHANNEL, str(executing.pk)), (AVAILABLE_CHANNEL, "mailers")]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_unapplying_the_chunked_notifications_restores_the_original_trigger_function() -> None:
    def function_source() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT prosrc FROM pg_proc WHERE proname = 'oban_jobs_notify_update'")
            return cursor.fetchone()[0]

    try:
        call_command("migrate", "django_oban", "0004", verbosity=0)
        assert "/ 1000" in function_source()
        call_command("migrate", "django_oban", verbosity=0)
        assert "/ 300" in function_source()
    finally:
        call_command("migrate", "django_oban", verbosity=0)
