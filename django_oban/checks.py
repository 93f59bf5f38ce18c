"""System checks: the ``OBAN`` settings dict (``django_oban.E001``…``E009``, ``E012``; ``CRON`` and
``TIMEZONE``: ``E030``…``E035``, in ``cron/checks.py``), what the admin needs (``E010``, ``E011``)
and the workers' ``unique`` options (``E040``); the Tasks backend's are ``ObanBackend.check``
(``E020``, ``W021``)."""

from __future__ import annotations

import numbers
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, register
from django.core.checks import Tags as CheckTags
from django.template import TemplateDoesNotExist, engines
from django.template.backends.django import DjangoTemplates
from django.utils.module_loading import autodiscover_modules

from .conf import DEFAULTS, TESTING_MODES
from .cron.checks import check_cron_settings
from .unique import clean_unique
from .workers import Worker

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
    return errors + check_cron_settings()


#: Templates the job admin renders or extends, one of ours and one of django-object-actions.
ADMIN_TEMPLATES = ("admin/django_oban/job/change_list.html", "django_object_actions/change_list.html")


def _template_found(name: str) -> bool:
    for engine in engines.all():
        if isinstance(engine, DjangoTemplates):
            try:
                engine.get_template(name)
            except TemplateDoesNotExist:
                continue
            return True
    return False


@register(CheckTags.admin)
def check_admin_dependencies(**kwargs: Any) -> list[CheckMessage]:
    """With Django's admin installed, the job admin needs ``django_object_actions`` and app templates."""
    if not apps.is_installed("django.contrib.admin"):
        return []
    if not apps.is_installed("django_object_actions"):
        return [
            Error(
                "The django_oban admin needs 'django_object_actions' in INSTALLED_APPS: the job list and "
                "the job page extend its templates.",
                hint="Add 'django_object_actions' to INSTALLED_APPS (it is installed with django-oban).",
                id="django_oban.E010",
            )
        ]
    missing = [name for name in ADMIN_TEMPLATES if not _template_found(name)]
    if missing:
        return [
            Error(
                f"The django_oban admin cannot load its templates ({', '.join(missing)}).",
                hint="Set 'APP_DIRS': True in the DjangoTemplates entry of TEMPLATES, or add "
                "'django.template.loaders.app_directories.Loader' to its 'loaders'.",
                id="django_oban.E011",
            )
        ]
    return []


def worker_classes() -> list[type[Worker]]:
    """Every imported ``Worker`` subclass, after importing the ``workers`` module of each installed app."""
    autodiscover_modules("workers")
    found: list[type[Worker]] = []
    pending = list(Worker.__subclasses__())
    while pending:
        worker = pending.pop()
        if worker not in found:
            found.append(worker)
            pending.extend(worker.__subclasses__())
    return sorted(found, key=lambda worker: worker.path())


@register(CheckTags.compatibility)
def check_worker_unique(**kwargs: Any) -> list[CheckMessage]:
    """A ``Worker`` subclass's ``unique`` class attribute must be valid options (the rule of ``unique.py``)."""
    errors: list[CheckMessage] = []
    for worker in worker_classes():
        try:
            clean_unique(worker.unique)
        except ValueError as exc:
            errors.append(
                Error(
                    f"{worker.path()}.unique {exc}.",
                    hint="Set unique to None or to a dict of period (seconds), fields, keys and states; "
                    "see docs/unique-jobs.md.",
                    obj=worker,
                    id="django_oban.E040",
                )
            )
    return errors
