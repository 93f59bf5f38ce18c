"""PostgreSQL NOTIFY channels published by triggers on ``oban_jobs``.

``oban_jobs_available``
    Payload: a queue name. Sent (once per queue and transaction, on commit) when jobs of
    that queue become ``available``: inserted, retried, rescheduled to now, staged, or
    moved to another queue while available.
``oban_jobs_cancelled``
    Payload: comma-separated ids of jobs that went from ``executing`` to ``cancelled``,
    at most 1000 ids per notification. Workers running those jobs set their cancel flag.

The triggers fire for every writer (the ORM, raw SQL, another service), so the wake-up
and cancel signals cannot be forgotten by a code path.
"""

AVAILABLE_CHANNEL = "oban_jobs_available"
CANCELLED_CHANNEL = "oban_jobs_cancelled"

CREATE_TRIGGERS_SQL = f"""
CREATE OR REPLACE FUNCTION oban_jobs_notify_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('{AVAILABLE_CHANNEL}', q.queue)
  FROM (SELECT DISTINCT queue FROM oban_new_jobs WHERE state = 'available') AS q;
  RETURN NULL;
END
$$;

CREATE TRIGGER oban_jobs_notify_insert AFTER INSERT ON oban_jobs
REFERENCING NEW TABLE AS oban_new_jobs
FOR EACH STATEMENT EXECUTE FUNCTION oban_jobs_notify_insert();

CREATE OR REPLACE FUNCTION oban_jobs_notify_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('{AVAILABLE_CHANNEL}', q.queue)
  FROM (
    SELECT DISTINCT n.queue
    FROM oban_new_jobs AS n JOIN oban_old_jobs AS o ON o.id = n.id
    WHERE n.state = 'available' AND (o.state <> 'available' OR o.queue <> n.queue)
  ) AS q;
  PERFORM pg_notify('{CANCELLED_CHANNEL}', string_agg(c.id::text, ','))
  FROM (
    SELECT n.id, (row_number() OVER ()) / 1000 AS chunk
    FROM oban_new_jobs AS n JOIN oban_old_jobs AS o ON o.id = n.id
    WHERE o.state = 'executing' AND n.state = 'cancelled'
  ) AS c
  GROUP BY c.chunk;
  RETURN NULL;
END
$$;

CREATE TRIGGER oban_jobs_notify_update AFTER UPDATE ON oban_jobs
REFERENCING OLD TABLE AS oban_old_jobs NEW TABLE AS oban_new_jobs
FOR EACH STATEMENT EXECUTE FUNCTION oban_jobs_notify_update();
"""

DROP_TRIGGERS_SQL = """
DROP TRIGGER IF EXISTS oban_jobs_notify_update ON oban_jobs;
DROP TRIGGER IF EXISTS oban_jobs_notify_insert ON oban_jobs;
DROP FUNCTION IF EXISTS oban_jobs_notify_update();
DROP FUNCTION IF EXISTS oban_jobs_notify_insert();
"""
