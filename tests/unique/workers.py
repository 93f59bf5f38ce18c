"""Workers with unique options, importable by a subprocess."""

from django_oban import Worker


class SyncAccount(Worker):
    unique = {"period": 300, "keys": ["account_id"]}

    def process(self, job):
        return None


class OncePerArgs(Worker):
    unique = {}

    def process(self, job):
        return None
