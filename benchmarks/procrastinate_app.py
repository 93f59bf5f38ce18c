"""The procrastinate app of the benchmark, on ``DATABASE_URL``, with its no-op task."""

import os

from procrastinate import App, PsycopgConnector

app = App(connector=PsycopgConnector(conninfo=os.environ.get("DATABASE_URL", "")))


@app.task(name="noop")
def noop() -> None:
    """Does nothing."""
