"""django-oban: Oban-grade background jobs for Django on PostgreSQL."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "JobState": "states",
    "JobExecutingError": "exceptions",
    "DuplicateJobError": "exceptions",
    "Worker": "workers",
    "Cancel": "workers",
    "Snooze": "workers",
    "Record": "workers",
    **{
        name: "api"
        for base in ("cancel", "retry", "delete", "update")
        for name in (f"{base}_job", f"{base}_many_jobs", f"a{base}_job", f"a{base}_many_jobs")
    },
    "insert_all": "api",
    "ainsert_all": "api",
    "Merge": "updates",
    "Add": "updates",
    **{
        name: "queues"
        for base in ("pause_queue", "resume_queue", "scale_queue", "queue_status")
        for name in (base, f"a{base}")
    },
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    # Lazy, so that ``import django_oban`` works before the app registry is ready.
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if TYPE_CHECKING:
    from .api import (
        acancel_job,
        acancel_many_jobs,
        adelete_job,
        adelete_many_jobs,
        ainsert_all,
        aretry_job,
        aretry_many_jobs,
        aupdate_job,
        aupdate_many_jobs,
        cancel_job,
        cancel_many_jobs,
        delete_job,
        delete_many_jobs,
        insert_all,
        retry_job,
        retry_many_jobs,
        update_job,
        update_many_jobs,
    )
    from .exceptions import DuplicateJobError, JobExecutingError
    from .queues import (
        apause_queue,
        aqueue_status,
        aresume_queue,
        ascale_queue,
        pause_queue,
        queue_status,
        resume_queue,
        scale_queue,
    )
    from .states import JobState
    from .updates import Add, Merge
    from .workers import Cancel, Record, Snooze, Worker
