"""System checks on the OBAN setting."""

from __future__ import annotations

import gc

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import modify_settings, override_settings

from django_oban import Worker
from django_oban.checks import check_admin_dependencies, check_oban_settings, check_worker_unique
from django_oban.conf import oban_settings


def ids(**oban):
    with override_settings(OBAN=oban):
        return [error.id for error in check_oban_settings()]


def test_defaults_pass():
    with override_settings():
        from django.conf import settings

        del settings.OBAN
        assert check_oban_settings() == []


def test_not_a_dict():
    with override_settings(OBAN=["QUEUES"]):
        assert [e.id for e in check_oban_settings()] == ["django_oban.E001"]


def test_unknown_key():
    assert ids(QUEUS={"default": 1}) == ["django_oban.E002"]


@pytest.mark.parametrize("queues", [{}, [], {"": 5}, {"  ": 5}, {"default": 0}, {"default": "10"}, {"default": True}])
def test_invalid_queues(queues):
    assert ids(QUEUES=queues) == ["django_oban.E003"]


@pytest.mark.parametrize("node", ["", "  ", 5])
def test_invalid_node(node):
    assert ids(NODE=node) == ["django_oban.E004"]


@pytest.mark.parametrize(
    ("key", "value", "check_id"),
    [
        ("PRUNE_AFTER", 0, "django_oban.E005"),
        ("PRUNE_AFTER", "1d", "django_oban.E005"),
        ("RESCUE_AFTER", -5, "django_oban.E006"),
        ("SHUTDOWN_GRACE", -1, "django_oban.E007"),
        ("POLL_INTERVAL", 0, "django_oban.E008"),
        ("POLL_INTERVAL", True, "django_oban.E008"),
    ],
)
def test_invalid_numbers(key, value, check_id):
    assert ids(**{key: value}) == [check_id]


def test_valid_settings_pass():
    assert ids(QUEUES={"default": 10, "mailers": 2}, NODE="web-1", PRUNE_AFTER=60, SHUTDOWN_GRACE=0) == []


def test_settings_fall_back_to_documented_defaults():
    with override_settings(OBAN={"QUEUES": {"a": 1}}):
        assert oban_settings.QUEUES == {"a": 1}
        assert oban_settings.PRUNE_AFTER == 7 * 24 * 3600
        assert oban_settings.RESCUE_AFTER == 60
        assert oban_settings.SHUTDOWN_GRACE == 15
        assert oban_settings.POLL_INTERVAL == 1.0
        assert oban_settings.NODE.endswith(f"-{__import__('os').getpid()}")


# -- what the admin needs -----------------------------------------------------------------


def test_the_admin_dependencies_of_the_test_project_pass():
    assert check_admin_dependencies() == []


@modify_settings(INSTALLED_APPS={"remove": ["django_object_actions"]})
def test_missing_django_object_actions_is_an_error_naming_the_fix():
    [error] = check_admin_dependencies()
    assert error.id == "django_oban.E010"
    assert "'django_object_actions'" in error.msg
    assert error.hint == "Add 'django_object_actions' to INSTALLED_APPS (it is installed with django-oban)."


@modify_settings(INSTALLED_APPS={"remove": ["django_object_actions"]})
def test_manage_py_check_stops_on_the_missing_app():
    with pytest.raises(SystemCheckError, match=r"django_oban\.E010"):
        call_command("check")


@modify_settings(INSTALLED_APPS={"remove": ["django.contrib.admin", "django_object_actions"]})
def test_without_djangos_admin_django_object_actions_is_not_needed():
    assert check_admin_dependencies() == []


def test_templates_that_cannot_be_loaded_are_an_error_naming_the_fix():
    without_app_dirs = [{**settings.TEMPLATES[0], "APP_DIRS": False}]
    with override_settings(TEMPLATES=without_app_dirs):
        [error] = check_admin_dependencies()
    assert error.id == "django_oban.E011"
    assert "admin/django_oban/job/change_list.html" in error.msg
    assert "django_object_actions/change_list.html" in error.msg
    assert error.hint == (
        "Set 'APP_DIRS': True in the DjangoTemplates entry of TEMPLATES, or add "
        "'django.template.loaders.app_directories.Loader' to its 'loaders'."
    )


def test_templates_from_an_explicit_app_directories_loader_pass():
    loaders = ["django.template.loaders.filesystem.Loader", "django.template.loaders.app_directories.Loader"]
    explicit = [{**settings.TEMPLATES[0], "APP_DIRS": False,
                 "OPTIONS": {**settings.TEMPLATES[0]["OPTIONS"], "loaders": loaders}}]
    with override_settings(TEMPLATES=explicit):
        assert check_admin_dependencies() == []


# -- the workers' unique options ---------------------------------------------------------


@pytest.fixture
def worker_with_unique():
    """Define a Worker subclass with the given ``unique``; it is gone again (collected) after the test."""
    defined = []

    def define(unique):
        defined.append(type("Report", (Worker,), {"__module__": "app.workers", "unique": unique}))
        return defined[-1]

    yield define
    defined.clear()
    gc.collect()  # a class lives in Worker.__subclasses__() until collected


@pytest.mark.parametrize(
    ("unique", "problem"),
    [
        ({"perod": 60}, "has no option 'perod'; the options are period, fields, keys, states."),
        ({"period": -1}, "period must be whole seconds from 1 to 3153600000 (or None: no period), not -1."),
        ({"states": ["available"]}, "states must include every incomplete state"),
        ("daily", "must be a dict of options (period, fields, keys, states) or None, not str."),
    ],
)
def test_a_worker_with_invalid_unique_options_is_an_error_naming_it(worker_with_unique, unique, problem):
    worker = worker_with_unique(unique)

    [error] = check_worker_unique()

    assert (error.id, error.obj) == ("django_oban.E040", worker)
    assert error.msg.startswith(f"app.workers.Report.unique {problem}")
    assert error.hint == (
        "Set unique to None or to a dict of period (seconds), fields, keys and states; see docs/unique-jobs.md."
    )


def test_manage_py_check_stops_on_a_worker_with_invalid_unique_options(worker_with_unique):
    worker_with_unique({"period": 0})

    with pytest.raises(SystemCheckError, match=r"django_oban\.E040"):
        call_command("check")


@pytest.mark.parametrize("unique", [None, {}, {"period": 60, "keys": ["account_id"]}])
def test_valid_unique_options_pass(worker_with_unique, unique):
    worker_with_unique(unique)
    assert check_worker_unique() == []
