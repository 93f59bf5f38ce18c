"""Fixtures of the admin and command tests, for the queue control tests of both surfaces."""

from tests.admin.conftest import staff_with  # noqa: F401
from tests.commands.conftest import manage, manage_env  # noqa: F401
