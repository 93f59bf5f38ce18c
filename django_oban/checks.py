"""System checks validating the ``OBAN`` settings dict (ids ``django_oban.E001``…)."""

from __future__ import annotations

import numbers
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error
from django.core.checks import Tags as CheckTags
from django.core.checks import register

from .conf import DEFAULTS, TESTING_MODES

_NUMBER_RULES: dict[str, tuple[str, bool]] = {
    # key: (check id, zero allowed)
    "PRUNE_AFTER": ("django_oban.E005", False),
    "RESCUE_AFTER": ("django_oban.E006", False),
    "SHUTDOWN_GRACE": ("django_oban.E007", True),
    "POLL_INTERVAL": ("django_oban.E008", False),
    "HEARTBEAT_INTERVAL": ("django_oban.E009", False),
}


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_queues(queues: Any) -> list[CheckMessage]:
    problem = None
    if not isinstance(queues, dict) or not queues:
        problem = "must be a non-empty dict of queue name -> concurrency limit"
    else:
        for name, limit in queues.items():
            if not isinstance(name, str) or not name.strip():
                problem = f"has an invalid queue name {name!r}; names are non-blank strings"
                break
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
                problem = f"gives queue {name!r} the limit {limit!r}; limits are integers >= 1"
                break
    if problem is None:
        return []
    return [Error(f"OBAN['QUEUES'] {problem}.", hint='For example {"default": 10}.', id="django_oban.E003")]


def _check_node(node: Any) -> list[CheckMessage]:
    if node is None or (isinstance(node, str) and node.strip()):
        return []
    return [
        Error(
            f"OBAN['NODE'] must be a non-blank string or None, not {node!r}.",
            hint="Leave it unset to use '<hostname>-<pid>'.",
            id="django_oban.E004",
        )
    ]


def _check_number(key: str, value: Any) -> list[CheckMessage]:
    check_id, zero_allowed = _NUMBER_RULES[key]
    if _is_number(value) and (value > 0 or (zero_allowed and value == 0)):
        return []
    bound = ">= 0" if zero_allowed else "> 0"
    return [Error(f"OBAN['{key}'] must be a number of seconds {bound}, not {value!r}.", id=check_id)]


@register(CheckTags.compatibility)
def check_oban_settings(**kwargs: Any) -> list[CheckMessage]:
    """Validate ``settings.OBAN``."""
    user = getattr(settings, "OBAN", {})
    if not isinstance(user, dict):
        return [Error(f"The OBAN setting must be a dict, not {type(user).__name__}.", id="django_oban.E001")]
    errors: list[CheckMessage] = []
    unknown = sorted(set(user) - set(DEFAULTS), key=str)
    if unknown:
        errors.append(
            Error(
                f"The OBAN setting has unknown keys: {', '.join(map(repr, unknown))}.",
                hint=f"Known keys: {', '.join(DEFAULTS)}.",
                id="django_oban.E002",
            )
        )
    merged = {**DEFAULTS, **user}
    errors += _check_queues(merged["QUEUES"])
    errors += _check_node(merged["NODE"])
    for key in _NUMBER_RULES:
        errors += _check_number(key, merged[key])
    if merged["TESTING"] not in TESTING_MODES:
        errors.append(
            Error(
                f"OBAN['TESTING'] must be one of {', '.join(map(repr, TESTING_MODES))}, not {merged['TESTING']!r}.",
                id="django_oban.E012",
            )
        )
    return errors
