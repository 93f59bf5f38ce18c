"""PostgreSQL NOTIFY channels published by triggers on ``oban_jobs`` and ``oban_queue_controls``.

``oban_jobs_available``
    Payload: a queue name. Sent (once per queue and transaction, on commit) when jobs of
    that queue become ``available``: inserted, retried, rescheduled to now, staged, or
    moved to another queue while available.
``oban_jobs_cancelled``
    Payload: comma-separated ids of jobs that went from ``executing`` to ``cancelled``,
    at most ``CANCELLED_IDS_PER_NOTIFICATION`` ids per notification, so that a payload stays
    under PostgreSQL's 8,000-byte limit whatever the ids (a bigint is at most 20
    characters). One statement cancelling more jobs sends several notifications. Workers
    running those jobs set their cancel flag.
``oban_queues_changed``
    Payload: a queue name. Sent (on commit) when a queue's controls change: paused, resumed
    or scaled (``django_oban.queues``). Workers re-read the controls of their queues.

The triggers fire for every writer (the ORM, raw SQL, another service), so the wake-up
and cancel signals cannot be forgotten by a code path. Their SQL lives, frozen, in the
migrations that create them (``0001_initial``, ``0005_cancel_notification_chunks``,
``0008_queue_control``).
"""

AVAILABLE_CHANNEL = "oban_jobs_available"
CANCELLED_CHANNEL = "oban_jobs_cancelled"
QUEUES_CHANNEL = "oban_queues_changed"

#: Ids per ``oban_jobs_cancelled`` notification: 300 ids of 20 characters and their commas
#: take 6,299 bytes. Changing it takes a migration (the trigger holds the number).
CANCELLED_IDS_PER_NOTIFICATION = 300
