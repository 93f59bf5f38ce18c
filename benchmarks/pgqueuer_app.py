"""The PgQueuer factory of the benchmark (``pgq run benchmarks.pgqueuer_app:main``), on ``DATABASE_URL``."""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from pgqueuer import PgQueuer
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Job


@asynccontextmanager
async def main() -> AsyncIterator[PgQueuer]:
    """A PgQueuer with one entrypoint, ``noop``, that does nothing.

    On asyncpg, PgQueuer's first driver: on psycopg's async connection, which delivers a
    notification only during the next query, PgQueuer picked a job up about a second late.
    """
    connection = await asyncpg.connect(os.environ["DATABASE_URL"])
    try:
        queuer = PgQueuer(AsyncpgDriver(connection))

        @queuer.entrypoint("noop")
        async def noop(job: Job) -> None:
            return None

        yield queuer
    finally:
        await connection.close()


if __name__ == "__main__":
    # What ``pgq run benchmarks.pgqueuer_app:main --max-concurrent-tasks N --batch-size B`` runs;
    # pgqueuer 1.6.0's command line fails on its own --log-level default with the typer installed
    # here, so it is called directly. The cap must be at least twice the batch size, so
    # concurrency 1 is a cap of 2 with batches of 1. (A per-entrypoint concurrency_limit stalls
    # about a second per batch in this version.)
    import asyncio

    from pgqueuer.adapters.cli import supervisor

    concurrency = int(os.environ.get("BENCH_CONCURRENCY", "10"))
    batch_size = max(1, min(10, concurrency // 2))
    asyncio.run(supervisor.run(main, batch_size=batch_size, max_concurrent_tasks=max(concurrency, 2 * batch_size)))
