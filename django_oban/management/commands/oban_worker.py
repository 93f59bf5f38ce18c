"""``manage.py oban_worker``: run jobs until SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_oban.conf import oban_settings
from django_oban.runtime import Runner


def parse_queues(value: str) -> dict[str, int]:
    """``"default=10,mailers=5"`` -> ``{"default": 10, "mailers": 5}``."""
    queues: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, _, limit = item.partition("=")
        if not name.strip() or not limit.strip().isdigit() or int(limit) < 1:
            raise CommandError(f"Bad queue {item!r}: use NAME=LIMIT with a positive LIMIT, e.g. default=10.")
        queues[name.strip()] = int(limit)
    if not queues:
        raise CommandError("--queues names no queue.")
    return queues


class Command(BaseCommand):
    help = "Run background jobs of the configured queues until stopped with SIGTERM or SIGINT."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--queues", help="NAME=LIMIT,… overriding OBAN['QUEUES'], e.g. default=10,mailers=5.")
        parser.add_argument("--node", help="This node's name (default: OBAN['NODE'] or host-pid).")

    def handle(self, *args: Any, **options: Any) -> None:
        queues = parse_queues(options["queues"]) if options["queues"] else oban_settings.QUEUES
        stop = threading.Event()

        def request_stop(signum: int, frame: Any) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        runner = Runner(queues, options["node"], stop)
        self.stdout.write(f"oban_worker {runner.node}: queues {queues}", ending="\n")
        self.stdout.flush()
        runner.run()
        self.stdout.write(f"oban_worker {runner.node}: stopped")
