"""Module-level job management functions and their async twins: ids in, ``JobQuerySet`` calls out.

Each function takes ``Job`` instances or integer ids and calls the QuerySet method of the same
operation on those jobs (``querysets.py`` holds the semantics). Instances passed in are
refreshed from the rows the statement returns, when the operation changed them.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import router, transaction

from .exceptions import DuplicateJobError
from .managing import managed_by
from .models import Job
from .querysets import Changes, JobQuerySet
from .signals import send_enqueued
from .twins import async_twin
from .unique import insert_skipping_duplicates, refuse_duplicate

JobOrId = Job | int


def cancel_job(job_or_id: JobOrId) -> None:
    """Cancel one job if it is incomplete, executing included. Unknown ids are ignored."""
    cancel_many_jobs([job_or_id])


def cancel_many_jobs(jobs_or_ids: Iterable[JobOrId]) -> int:
    """Cancel the incomplete jobs among ``jobs_or_ids``; return how many were cancelled."""
    target, instances = _target(jobs_or_ids)
    if not any(instances.values()):
        return target.cancel()
    return _refresh(instances, target.cancel_returning())


def retry_job(job_or_id: JobOrId) -> None:
    """Make one job available now, unless it is available or executing.

    Raises ``DuplicateJobError`` (changing nothing) if it is a unique job and would duplicate one.
    """
    target, _ = _target([job_or_id])
    refuse_duplicate(target.retry_duplicates())
    retry_many_jobs([job_or_id])


def retry_many_jobs(jobs_or_ids: Iterable[JobOrId]) -> int:
    """Retry every job among ``jobs_or_ids`` not available or executing; return the count."""
    target, instances = _target(jobs_or_ids)
    if not any(instances.values()):
        return target.retry()
    return _refresh(instances, target.retry_returning())


def delete_job(job_or_id: JobOrId) -> None:
    """Delete one job permanently unless it is executing (then it is left untouched)."""
    delete_many_jobs([job_or_id])


def delete_many_jobs(jobs_or_ids: Iterable[JobOrId]) -> int:
    """Delete the jobs among ``jobs_or_ids`` that are not executing; return the count."""
    target, _ = _target(jobs_or_ids)
    return target.delete()[0]


def update_job(job_or_id: JobOrId, changes: Changes) -> Job:
    """Apply ``changes`` to one job and return it as now stored.

    Raises ``ValidationError`` (changing nothing) for a field that cannot be updated or an
    invalid value, ``DuplicateJobError`` if a unique job's new values would duplicate one, and
    ``Job.DoesNotExist`` for an unknown id.
    """
    job = update_many_jobs([job_or_id], changes)[0]
    if job.conflict:
        raise DuplicateJobError(f"Job {job.pk} would duplicate a unique job; it was not updated.")
    return job


def update_many_jobs(jobs_or_ids: Iterable[JobOrId], changes: Changes) -> list[Job]:
    """Apply ``changes`` to every job, all or nothing; return them in input order.

    ``changes`` as for ``JobQuerySet.update_many``: values replace, ``Merge``/``Add`` merge.
    Instances passed in are refreshed and returned themselves; ids come back as new instances.
    A unique job whose new values would duplicate one is skipped: unchanged, ``conflict = True``.
    """
    target, instances = _target(jobs_or_ids)
    # An unknown id undoes the update: so that no jobs_managed is sent for it, it is sent at the end.
    with managed_by("api"), transaction.atomic(using=target.db):
        updated: dict[int, Job] = {job.pk: job for job in target.update_many(changes)}
        missing = [pk for pk in instances if pk not in updated]
        if missing:
            raise Job.DoesNotExist(f"No job with id {', '.join(map(str, missing))}.")
    _refresh(instances, updated.values())
    for pk, passed in instances.items():
        for job in passed:
            job.conflict = updated[pk].conflict
    return [(passed[0] if passed else updated[pk]) for pk, passed in instances.items()]


def _target(jobs_or_ids: Iterable[JobOrId]) -> tuple[JobQuerySet, dict[int, list[Job]]]:
    """The queryset of the given jobs, and the instances passed in by id (in input order)."""
    if isinstance(jobs_or_ids, (Job, int, str, bytes)):
        raise TypeError("Pass a list of jobs or ids; use the singular function for one job.")
    instances: dict[int, list[Job]] = {}
    for item in jobs_or_ids:
        if isinstance(item, Job):
            if item.pk is None:
                raise ValueError("An unsaved Job has no id; save it first.")
            instances.setdefault(item.pk, []).append(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            instances.setdefault(item, [])
        else:
            raise TypeError(f"Expected a Job or an integer id, not {item!r}.")
    return Job.objects.with_ids(instances), instances


def _refresh(instances: dict[int, list[Job]], rows: Iterable[Job]) -> int:
    """Copy each row into the instances passed in for it; return the number of rows."""
    count = 0
    for row in rows:
        count += 1
        for job in instances.get(row.pk, ()):
            job.copy_from(row)
    return count


acancel_job = async_twin(cancel_job)
acancel_many_jobs = async_twin(cancel_many_jobs)
aretry_job = async_twin(retry_job)
aretry_many_jobs = async_twin(retry_many_jobs)
adelete_job = async_twin(delete_job)
adelete_many_jobs = async_twin(delete_many_jobs)
aupdate_job = async_twin(update_job)
aupdate_many_jobs = async_twin(update_many_jobs)


def insert_all(jobs: Iterable[Job]) -> list[Job]:
    """Validate and insert many unsaved jobs in one statement; returns them with ids.

    ``TypeError`` for anything but a list of jobs, ``ValueError`` for a job already saved:
    both before any insert. A unique job that duplicates one (in the table or earlier in
    ``jobs``) is skipped and comes back as that job with ``conflict = True``; unique jobs are
    inserted by a statement of their own, in the same transaction. ``job_enqueued`` is sent
    for each job inserted.
    """
    if isinstance(jobs, (Job, str, bytes)) or not isinstance(jobs, Iterable):
        raise TypeError(f"insert_all() takes a list of unsaved jobs, not {type(jobs).__name__}.")
    jobs = list(jobs)
    for job in jobs:
        if not isinstance(job, Job):
            raise TypeError(f"insert_all() takes unsaved jobs (Worker.new(...)), not {type(job).__name__} {job!r}.")
        if not job._state.adding:
            raise ValueError(f"Job {job.pk} is already saved; insert_all() inserts new jobs only.")
    for job in jobs:
        job.prepare_for_insert()
    unique = [job for job in jobs if job.unique_key is not None]
    if not unique:
        Job.objects.insert_prepared(jobs)
    else:
        using = router.db_for_write(Job)
        with transaction.atomic(using=using):
            Job.objects.db_manager(using).insert_prepared([job for job in jobs if job.unique_key is None])
            insert_skipping_duplicates(unique, using)
    send_enqueued(jobs)
    return jobs


ainsert_all = async_twin(insert_all)
