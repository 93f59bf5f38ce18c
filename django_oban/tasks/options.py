"""The backend's ``OPTIONS``: Oban's job options for tasks, for all of them or per task.

.. code-block:: python

    TASKS = {"default": {
        "BACKEND": "django_oban.backends.ObanBackend",
        "OPTIONS": {
            "MAX_ATTEMPTS": 20,             # attempts of every task (default 20)
            "TAGS": ["tasks"],              # tags of every task's job
            "TIMEOUT": None,                # seconds an attempt may run, or None
            "BACKOFF": None,                # seconds between attempts, a dotted path to
                                            # backoff(job) -> seconds, or None (exponential)
            "TASKS": {                      # per task (its module path): the same keys
                "shop.tasks.charge_card": {"MAX_ATTEMPTS": 3, "TAGS": ["payments"]},
            },
        },
    }}
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from numbers import Real
from typing import Any

from django.utils.module_loading import import_string

#: The per-task keys, with their defaults.
TASK_KEYS: dict[str, Any] = {"MAX_ATTEMPTS": 20, "TAGS": [], "TIMEOUT": None, "BACKOFF": None}
#: Every key ``OPTIONS`` may have.
KEYS = (*TASK_KEYS, "TASKS")


@dataclass(frozen=True)
class TaskOptions:
    """The job options of one task."""

    max_attempts: int
    tags: list[str]
    timeout: float | None
    backoff: float | str | None

    def backoff_seconds(self, job: Any, default: Callable[[Any], float]) -> float:
        """Seconds before the next attempt of ``job``: ``BACKOFF`` if set, else ``default(job)``."""
        if self.backoff is None:
            return default(job)
        if isinstance(self.backoff, str):
            return import_string(self.backoff)(job)  # type: ignore[no-any-return]
        return self.backoff


def task_options(options: Mapping[str, Any], module_path: str) -> TaskOptions:
    """The options of the task at ``module_path``: its own entry over the backend-wide keys."""
    own = options.get("TASKS", {}).get(module_path, {})
    value = {key: own.get(key, options.get(key, default)) for key, default in TASK_KEYS.items()}
    return TaskOptions(value["MAX_ATTEMPTS"], list(value["TAGS"]), value["TIMEOUT"], value["BACKOFF"])


def _number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def key_problems(entry: Mapping[str, Any], where: str) -> list[str]:
    """What is wrong with the per-task keys of ``entry`` (``where`` names it in the messages)."""
    problems = []
    value = entry.get("MAX_ATTEMPTS", 1)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        problems.append(f"{where}['MAX_ATTEMPTS'] must be an integer >= 1, not {value!r}.")
    value = entry.get("TAGS", [])
    if not isinstance(value, (list, tuple)) or not all(isinstance(tag, str) for tag in value):
        problems.append(f"{where}['TAGS'] must be a list of strings, not {value!r}.")
    value = entry.get("TIMEOUT")
    if value is not None and not (_number(value) and value > 0):
        problems.append(f"{where}['TIMEOUT'] must be a positive number of seconds or None, not {value!r}.")
    value = entry.get("BACKOFF")
    if value is not None and not (isinstance(value, str) or (_number(value) and value >= 0)):
        problems.append(
            f"{where}['BACKOFF'] must be seconds >= 0, the dotted path of a backoff(job) function, "
            f"or None, not {value!r}."
        )
    elif isinstance(value, str):
        try:
            function = import_string(value)
        except ImportError as exc:
            problems.append(f"{where}['BACKOFF'] cannot be imported: {exc}.")
        else:
            if not callable(function):
                problems.append(f"{where}['BACKOFF'] {value!r} is not callable.")
    return problems


def option_problems(options: Any) -> list[str]:
    """What is wrong with a backend's ``OPTIONS``, one message per problem."""
    if not isinstance(options, Mapping):
        return [f"OPTIONS must be a dict, not {type(options).__name__}."]
    problems = []
    unknown = sorted(set(options) - set(KEYS), key=str)
    if unknown:
        problems.append(f"OPTIONS has unknown keys {', '.join(map(repr, unknown))}; known: {', '.join(KEYS)}.")
    problems += key_problems(options, "OPTIONS")
    tasks = options.get("TASKS", {})
    if not isinstance(tasks, Mapping):
        return [*problems, f"OPTIONS['TASKS'] must be a dict of task module path -> options, not {tasks!r}."]
    for path, entry in tasks.items():
        where = f"OPTIONS['TASKS'][{path!r}]"
        if not isinstance(entry, Mapping):
            problems.append(f"{where} must be a dict, not {entry!r}.")
            continue
        unknown = sorted(set(entry) - set(TASK_KEYS), key=str)
        if unknown:
            names = ", ".join(map(repr, unknown))
            problems.append(f"{where} has unknown keys {names}; known: {', '.join(TASK_KEYS)}.")
        problems += key_problems(entry, where)
    return problems
