"""Exceptions raised by django-oban."""

from django.core.exceptions import ValidationError


class JobExecutingError(Exception):
    """Raised when deleting a single job that is executing.

    Cancel the job first, then delete it once it has stopped.
    """


class DuplicateJobError(ValidationError):
    """Raised when retrying, updating or saving one unique job would duplicate another; nothing changed.

    A ``ValidationError``, so every surface that reports invalid changes reports it too. Calls on
    many jobs do not raise it: they skip such jobs with the reason ``"unique"``.
    """
