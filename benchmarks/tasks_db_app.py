"""The no-op Django task of the django-tasks-db adapter (the ``db`` backend of ``benchmarks.settings``)."""

from django_tasks import task


@task(backend="db")
def noop() -> None:
    """Does nothing."""
