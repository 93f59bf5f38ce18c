"""Settings of the demo site and the test suite.

The database is PostgreSQL when ``DATABASE_URL`` is set, else a local SQLite file.
"""

import json
import os
import tempfile
from importlib.util import find_spec
from pathlib import Path

import dj_database_url
import django

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "django-oban-demo-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_object_actions",
    "django_oban",
    "testproject.demo",
    # The Django Tasks backport, before Django 6.0 brought django.tasks.
    *(["django_tasks"] if django.VERSION < (6, 0) and find_spec("django_tasks") else []),
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "testproject.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "testproject.wsgi.application"

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DJANGO_CONN_MAX_AGE", "0")),  # worker subprocesses of the tests
    )
}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" and django.VERSION >= (5, 1):
    # The worker's threads and the site share one SQLite file: each transaction takes the write
    # lock when it begins (waiting up to 20 s for it), so none fails with "database is locked"
    # when two would upgrade a read to a write at once; in WAL mode readers never wait for it.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL",
        }
    )
    # Tests use such a file too (thrown away), not Django's shared-cache in-memory database,
    # where one thread's table lock fails another's query at once instead of being waited for.
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(tempfile.gettempdir(), f"oban-test-{os.getpid()}.sqlite3")}

# MD5 first: the test suite creates many users, and Django's default (PBKDF2) takes a large
# share of a test's time to hash each password. Fine for this test and demo project only;
# the default hasher follows so that passwords hashed with it still verify.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_I18N = True
STATIC_URL = "static/"

OBAN = {
    "QUEUES": {"default": 10, "mailers": 5, "reports": 2},
    # Worker subprocesses of the tests (e.g. the chaos suite) set more keys, as a JSON object.
    **json.loads(os.environ.get("OBAN_SETTINGS_JSON", "{}")),
}

# Django Tasks (testproject/tasks.py) run as django-oban jobs; QUEUES default to OBAN's.
TASKS = {"default": {"BACKEND": "django_oban.backends.ObanBackend"}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_oban": {"handlers": ["console"], "level": os.environ.get("OBAN_LOG_LEVEL", "INFO")}},
}
