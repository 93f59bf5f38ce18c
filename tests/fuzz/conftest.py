"""Fixtures of the fuzz tests: the command tests' ``manage`` runs ``manage.py`` as a real process."""

from tests.commands.conftest import manage, manage_env  # noqa: F401
