"""The worker runtime behind ``manage.py oban_worker``."""

from .runner import Runner, run_worker

__all__ = ["Runner", "run_worker"]
