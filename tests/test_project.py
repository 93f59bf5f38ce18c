"""The project as CI sees it: system checks pass and the models match the migrations."""

import pytest
from django.core.management import call_command


def test_system_checks_pass():
    call_command("check", fail_level="WARNING")


@pytest.mark.django_db
def test_no_missing_migrations():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.django_db(transaction=True)
def test_migrations_reverse_and_apply_again():
    call_command("migrate", "django_oban", "zero", verbosity=0)
    call_command("migrate", "django_oban", verbosity=0)
