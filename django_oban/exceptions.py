"""Exceptions raised by django-oban."""


class JobExecutingError(Exception):
    """Raised when deleting a single job that is executing.

    Cancel the job first, then delete it once it has stopped.
    """
