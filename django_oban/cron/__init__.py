"""Periodic jobs: ``OBAN["CRON"]`` entries inserted by the leader node, once per slot.

``schedule`` parses expressions and finds slots (in ``OBAN["TIMEZONE"]``), ``entries``
validates the setting (the system checks ``E030``…``E035``), ``slots`` inserts each slot's
job exactly once across nodes. See ``docs/periodic-jobs.md``.
"""
