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
            "UNIQUE": None,                 # unique job options (docs/unique-jobs.md), or None
            "TASKS": {                      # per task (its module path): the same keys
                "shop.tasks.charge_card": {"MAX_ATTEMPTS": 3, "TAGS": ["payments"]},
                "shop.tasks.sync_account": {"UNIQUE": {"period": 300}},
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

from ..unique import clean_unique

#: The per-task keys, with their defaults.
TASK_KEYS: dict[str, Any] = {"MAX_ATTEMPTS": 20, "TAGS": [], "TIMEOUT": None, "BACKOFF": None, "UNIQUE": None}
#: The keys of a task job's ``args``: the call's positional and keyword arguments.
CALL_KEYS = ("args", "kwargs")
#: Every key ``OPTIONS`` may have.
KEYS = (*TASK_KEYS, "TASKS")


@dataclass(frozen=True)
class TaskOptions:
    """The job options of one task."""

    max_attempts: int
    tags: list[str]
    timeout: float | None
    backoff: float | str | None
    unique: Any

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
    return TaskOptions(value["MAX_ATTEMPTS"], list(value["TAGS"]), value["TIMEOUT"], value["BACKOFF"], value["UNIQUE"])


def clean_task_unique(value: Any) -> dict[str, Any] | None:
    """A ``UNIQUE`` option as ``Job.unique`` stores it; ``ValueError`` saying what is wrong.

    Its ``fields`` must hold ``worker`` (a task's duplicate is a job of the same task), and its
    ``keys`` name keys of the stored call, ``{"args": [...], "kwargs": {...}}``.
    """
    cleaned = clean_unique(value)
    if cleaned is None:
        return None
    if "worker" not in cleaned["fields"]:
        raise ValueError(f"fields must include 'worker' (a duplicate is of the same task), not {cleaned['fields']!r}")
    if not set(cleaned["keys"] or ()) <= set(CALL_KEYS):
        raise ValueError(
            f"keys must be 'args' (positional arguments) and/or 'kwargs' (keyword arguments), not {cleaned['keys']!r}"
        )
    return cleaned


def _number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def backoff_problems(value: Any, where: str) -> list[str]:
    """What is wrong with a ``BACKOFF`` option (``where`` names it in the messages)."""
    if value is None or (_number(value) and value >= 0):
        return []
    if not isinstance(value, str):
        return [f"{where} must be seconds >= 0, the dotted path of a backoff(job) function, or None, not {value!r}."]
    try:
        function = import_string(value)
    except ImportError as exc:
        return [f"{where} cannot be imported: {exc}."]
    return [] if callable(function) else [f"{where} {value!r} is not callable."]


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
    problems += backoff_problems(entry.get("BACKOFF"), f"{where}['BACKOFF']")
    try:
        clean_task_unique(entry.get("UNIQUE"))
    except ValueError as exc:
        problems.append(f"{where}['UNIQUE'] {exc}.")
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
