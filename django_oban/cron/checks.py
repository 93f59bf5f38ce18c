"""The system check of ``OBAN["CRON"]`` and ``OBAN["TIMEZONE"]`` (``django_oban.E030``…``E035``)."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error

from ..conf import oban_settings
from .entries import validate


def check_cron_settings(**kwargs: Any) -> list[CheckMessage]:
    """One error per bad entry, or one for a bad ``TIMEZONE`` or a ``CRON`` that is not a list."""
    errors, _ = validate(oban_settings.CRON)
    return [Error(str(error), hint=error.hint, id=error.check_id) for error in errors]
