"""Django Tasks (``django.tasks``, or the ``django-tasks`` backport) on django-oban.

The backend is ``django_oban.backends.ObanBackend``; see docs/tasks.md. Importing any module
of this package needs the framework (``ImproperlyConfigured`` without it). When the app is
ready, ``django_oban.apps`` registers ``runner.worker_for`` with the runtime, so that a worker
runs the jobs of tasks.
"""
