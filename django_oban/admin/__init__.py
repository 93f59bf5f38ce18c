"""The ``Job`` admin, registered on import (Django's admin autodiscovery imports this package).

- ``job_admin``: ``JobAdmin``, put together from the modules below;
- ``changelist``: the job list, the counts by state and its paginator, search;
- ``filters``: the queue, worker and priority filters (index skip scans, no ``SELECT DISTINCT``);
- ``actions``: cancel / retry / delete / update of the selected jobs;
- ``job_page``: the read-only job page and its buttons;
- ``queues_page``: the Queues page: counts and nodes per queue, Pause / Resume / Scale (``control_queue``);
- ``audit``: the ``LogEntry`` trail of what the admin changed;
- ``permissions``: the custom ``cancel_job`` and ``retry_job`` permissions;
- ``ids``: telling a job id from text that cannot be one.
"""

from .job_admin import JobAdmin

__all__ = ["JobAdmin"]
