"""Workers used by the tests."""

from django_oban import Worker


class Noop(Worker):
    def process(self, job):
        return None


class SendEmail(Worker):
    queue = "mailers"
    priority = 3
    max_attempts = 5
    tags = ["Email", " email ", "outbound"]

    def process(self, job):
        return None
