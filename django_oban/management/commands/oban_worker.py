"""``manage.py oban_worker``: run jobs until SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_oban.conf import oban_settings
from django_oban.management.arguments import parse_int
from django_oban.metrics import Metrics
from django_oban.runtime import Runner

#: The highest TCP port number.
MAX_PORT = 65535


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
        parser.add_argument(
            "--metrics-port",
            metavar="PORT",
            help="Serve Prometheus metrics on http://ADDR:PORT/metrics (0: any free port); "
            'needs prometheus-client: pip install "django-oban[metrics]".',
        )
        parser.add_argument(
            "--metrics-addr", default="0.0.0.0", metavar="ADDR", help="The address of --metrics-port (default 0.0.0.0)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        queues = parse_queues(options["queues"]) if options["queues"] else oban_settings.QUEUES
        stop = threading.Event()

        def request_stop(signum: int, frame: Any) -> None:
            stop.set()

        runner = Runner(queues, options["node"], stop)
        metrics = None if options["metrics_port"] is None else self.serve_metrics(runner, options)
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        self.stdout.write(f"oban_worker {runner.node}: queues {queues}", ending="\n")
        self.stdout.flush()
        try:
            runner.run()
        finally:
            if metrics is not None:
                metrics.stop()
        self.stdout.write(f"oban_worker {runner.node}: stopped")

    def serve_metrics(self, runner: Runner, options: dict[str, Any]) -> Metrics:
        """Start serving ``runner``'s metrics as the options say; ``CommandError`` if it cannot."""
        port = parse_int(options["metrics_port"], "--metrics-port", minimum=0)
        if port > MAX_PORT:
            raise CommandError(f"Invalid --metrics-port {port}: a port is at most {MAX_PORT}.")
        try:
            metrics = Metrics(runner)
        except ImproperlyConfigured as exc:
            raise CommandError(f"--metrics-port: {exc}") from None
        try:
            port = metrics.start(port, options["metrics_addr"])
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot serve metrics on {options['metrics_addr']}:{port}: {exc}") from None
        self.stdout.write(f"oban_worker {runner.node}: metrics on http://{options['metrics_addr']}:{port}/metrics")
        return metrics
