#!/usr/bin/env python
"""Benchmark django-oban side by side with its peers on one throw-away PostgreSQL cluster.

Usage: python benchmarks/run.py --jobs 5000 [--rounds 3] [--scenarios ...] [--systems ...]

Starts a PostgreSQL cluster with its default, durable settings (``fsync`` on), migrates one
database and installs every peer's schema in it, then runs each scenario on each system,
``--rounds`` times, and prints the medians; each figure is also given as a ratio to the best
peer of the same round (its median over the rounds). ``--write`` puts the tables into
docs/benchmarks.md between its result markers. Peers come from the ``bench`` extra
(``pip install -e '.[bench]'``); a system not installed is left out. With ``--url`` an existing
(empty) PostgreSQL database is used instead of a new cluster.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from benchmarks import large, scenarios  # noqa: E402
from benchmarks.systems import SYSTEMS, System  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"
SIDE_BY_SIDE = ["execution", "enqueue_one", "enqueue_bulk", "pickup"]
OBAN_ONLY = ["bulk", "cancellation", "memory", "large"]
CONCURRENCIES = (1, 10, 50)
PEERS = [name for name in SYSTEMS if name != "django-oban"]


@contextmanager
def database(url: str | None) -> Iterator[str]:
    """The URL of an empty database: ``url``, or a ``bench`` database on a new durable cluster."""
    if url:
        yield url
        return
    from tests.pgcluster import TemporaryCluster

    with TemporaryCluster(durable=True) as cluster, psycopg.connect(cluster.url, autocommit=True) as admin:
        admin.execute("CREATE DATABASE bench")
        yield cluster.url.rsplit("/", 1)[0] + "/bench"


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    os.environ.setdefault("DJANGO_DEBUG", "0")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


class Results:
    """Figures by (scenario, system), one per round; a higher figure is better unless ``lower``.

    ``peers``: the systems a figure is compared with (django-oban's variants, such as the bare
    loop or the big table, are not peers)."""

    def __init__(self, peers: Iterable[str] = PEERS) -> None:
        self.peers = set(peers)
        self.rounds: dict[tuple[str, str], list[float]] = {}
        self.lower: set[str] = set()
        self.notes: dict[str, str] = {}

    def add(self, scenario: str, system: str, value: float, lower: bool = False) -> None:
        self.rounds.setdefault((scenario, system), []).append(value)
        if lower:
            self.lower.add(scenario)
        print(f"  {scenario:<32} {system:<16} {value:12,.2f}", flush=True)

    def scenarios(self) -> list[str]:
        return list(dict.fromkeys(scenario for scenario, _ in self.rounds))

    def systems(self, scenario: str) -> list[str]:
        return [system for (name, system) in self.rounds if name == scenario]

    def median(self, scenario: str, system: str) -> float:
        return statistics.median(self.rounds[scenario, system])

    def ratio(self, scenario: str, system: str) -> float | None:
        """Median over the rounds of this system's figure over the best peer's of the same round
        (above 1: better than the best peer, for latencies too)."""
        peers = [name for name in self.systems(scenario) if name in self.peers and name != system]
        if not peers:
            return None
        ratios = []
        values = self.rounds[scenario, system]
        for number, value in enumerate(values):
            # A figure of the last round only (the big table) is compared with the peers' last round.
            figures = [self.rounds[scenario, peer][index] for peer in peers
                       if 0 <= (index := number + len(self.rounds[scenario, peer]) - len(values))
                       < len(self.rounds[scenario, peer])]
            if not figures:
                continue
            if scenario in self.lower:
                ratios.append(min(figures) / value if value else float("inf"))
            else:
                ratios.append(value / max(figures))
        return statistics.median(ratios) if ratios else None


def side_by_side(results: Results, systems: list[System], db: Any, options: argparse.Namespace) -> None:
    chosen = set(options.scenarios)
    for system in systems:
        print(f"{system.name} {system.version()}", flush=True)
        if "execution" in chosen:
            for concurrency in CONCURRENCIES:
                name = f"execution, concurrency {concurrency} (jobs/s)"
                if system.supports(concurrency):
                    results.add(name, system.name, scenarios.execution(system, db, options.jobs, concurrency))
                else:
                    results.notes[f"{name}: {system.name}"] = (
                        f"its worker runs one job at a time; concurrency {concurrency} would be {concurrency} "
                        f"processes on this machine, beyond the {system.max_processes} tried"
                    )
            if system.name == "django-oban":
                loop = scenarios.bare_loop(db, system.url, options.jobs)
                results.add("bare claim-and-acknowledge loop, concurrency 1 (jobs/s)", "SQL loop", loop)
                worker = results.rounds["execution, concurrency 1 (jobs/s)", system.name][-1]
                results.add("execution at concurrency 1 ÷ the bare loop", "django-oban", worker / loop)
        if "enqueue_one" in chosen:
            results.add("enqueue one by one (jobs/s)", system.name,
                        scenarios.enqueue_one(system, db, options.enqueue_jobs))
        if "enqueue_bulk" in chosen:
            if system.bulk:
                results.add(f"enqueue bulk, {options.jobs:,} jobs (jobs/s)", system.name,
                            scenarios.enqueue_bulk(system, db, options.jobs))
            else:
                results.notes[f"enqueue bulk: {system.name}"] = "no bulk enqueue API"
        if "pickup" in chosen:
            p50, p95 = scenarios.pickup(system, db, options.pickup_samples)
            results.add("idle pickup latency p50 (ms)", system.name, p50, lower=True)
            results.add("idle pickup latency p95 (ms)", system.name, p95, lower=True)


def oban_only(results: Results, url: str, db: Any, options: argparse.Namespace, last_round: bool) -> None:
    chosen = set(options.scenarios)
    if "bulk" in chosen:
        for name in scenarios.BULK_OPERATIONS:
            figures = scenarios.bulk_operation(db, name, options.bulk_jobs, min(options.loop_jobs, options.bulk_jobs))
            for way, value in figures.items():
                results.add(f"bulk {name}, {options.bulk_jobs:,} jobs (jobs/s)", way, value)
    if "cancellation" in chosen:
        p50, p95 = scenarios.cancellation(db, url, options.cancel_samples)
        results.add("cancellation latency p50 (ms)", "django-oban", p50, lower=True)
        results.add("cancellation latency p95 (ms)", "django-oban", p95, lower=True)
    if "memory" in chosen and last_round:
        start, end = scenarios.memory(db, url, options.memory_jobs)
        results.add(f"worker RSS after the first jobs, of {options.memory_jobs:,} (MB)", "django-oban", start, True)
        results.add(f"worker RSS after {options.memory_jobs:,} jobs (MB)", "django-oban", end, lower=True)
    if "large" in chosen and last_round:
        big_table(results, url, db, options)


def big_table(results: Results, url: str, db: Any, options: argparse.Namespace) -> None:
    """The admin and the claim on a table of ``--large-jobs`` jobs, filled once (last round)."""
    size = f"{options.large_jobs:,}"
    print(f"  filling the table with {size} jobs", flush=True)
    results.notes[f"{size}-job table"] = f"filled by SQL in {large.fill(db, options.large_jobs):.0f} s, not timed"
    for page, ms in large.admin_pages(options.large_jobs).items():
        results.add(f"admin change list on {size} jobs, {page} (ms)", "django-oban", ms, lower=True)
    retries = [large.admin_retry(db, f"queue-{number}") for number in range(3)]
    jobs = statistics.median(count for _, count in retries)
    results.add(f"admin retry of a filtered selection (~{jobs:,.0f} of {size} jobs) (ms)", "django-oban",
                statistics.median(ms for ms, _ in retries), lower=True)
    p50, p95 = scenarios.pickup(scenarios.DjangoOban(url), db, options.pickup_samples, reset=False)
    results.add("idle pickup latency p50 (ms)", f"django-oban, {size} finished jobs in the table", p50, lower=True)
    results.add("idle pickup latency p95 (ms)", f"django-oban, {size} finished jobs in the table", p95, lower=True)


def run(options: argparse.Namespace, url: str) -> Results:
    """Every chosen scenario on every chosen system, ``options.rounds`` times."""
    results = Results()
    systems = [SYSTEMS[name](url) for name in options.systems]
    missing = [system.name for system in systems if not system.available()]
    for name in missing:
        results.notes[name] = "not installed: `pip install -e '.[bench]'`"
    systems = [system for system in systems if system.available()]
    for system in systems:
        system.setup()
    with psycopg.connect(url, autocommit=True) as db:
        for number in range(1, options.rounds + 1):
            print(f"== round {number} of {options.rounds}", flush=True)
            side_by_side(results, systems, db, options)
            if "django-oban" in options.systems:
                oban_only(results, url, db, options, number == options.rounds)
    return results


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return f"{os.cpu_count()} CPUs ({cpu}), {memory_kb / 1024 ** 2:.0f} GB RAM, {platform.platform()}"


def versions(url: str, names: list[str]) -> str:
    with psycopg.connect(url) as connection:
        server = connection.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        fsync = connection.execute("SHOW fsync").fetchone()[0]  # type: ignore[index]
    import django

    parts = [f"PostgreSQL {server} (fsync {fsync})", f"Python {platform.python_version()}",
             f"Django {django.__version__}"]
    parts += [f"{name} {SYSTEMS[name](url).version()}" for name in names]
    return ", ".join(parts)


def fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"


def markdown(results: Results, options: argparse.Namespace, header: str) -> str:
    """The results as three tables: side by side, bulk management, django-oban only; then what was not measured."""
    lines = [header, ""]
    lines += side_by_side_table(results) + bulk_table(results) + oban_only_table(results)
    if results.notes:
        lines += ["Not measured, or not timed:", ""]
        lines += [f"- {key}: {value}." for key, value in results.notes.items()] + [""]
    return "\n".join(lines)


def ratio_text(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.2f}×"  # noqa: RUF001


def side_by_side_table(results: Results) -> list[str]:
    """A row per scenario run on a peer: each system's median, and django-oban's ratio to the best peer."""
    names = list(SYSTEMS)
    rows = [scenario for scenario in results.scenarios()
            if any(system in PEERS for system in results.systems(scenario))]
    if not rows:
        return []
    lines = ["| scenario | " + " | ".join(names) + " | django-oban × best peer |",  # noqa: RUF001
             "|---|" + "---:|" * (len(names) + 1)]
    for scenario in rows:
        figures = [fmt(results.median(scenario, name)) if (scenario, name) in results.rounds else "—"
                   for name in names]
        oban = results.ratio(scenario, "django-oban") if (scenario, "django-oban") in results.rounds else None
        lines.append(f"| {scenario} | " + " | ".join(figures) + f" | {ratio_text(oban)} |")
    return [*lines, ""]


def bulk_table(results: Results) -> list[str]:
    """A row per bulk operation: jobs/s of the API, the hand-written SQL and the per-row loop, and two ratios."""
    rows = [scenario for scenario in results.scenarios() if set(results.systems(scenario)) == {"api", "sql", "loop"}]
    if not rows:
        return []
    lines = ["| bulk operation (jobs/s) | API | hand-written SQL | per-row loop | API time ÷ SQL time "
             "| API ÷ loop speed |", "|---|---:|---:|---:|---:|---:|"]
    for scenario in rows:
        api, sql, loop = (results.rounds[scenario, way] for way in ("api", "sql", "loop"))
        over_sql = statistics.median(s / a for a, s in zip(api, sql, strict=True))
        over_loop = statistics.median(a / lo for a, lo in zip(api, loop, strict=True))
        lines.append(f"| {scenario.removeprefix('bulk ').removesuffix(' (jobs/s)')} | {fmt(statistics.median(api))} | "
                     f"{fmt(statistics.median(sql))} | {fmt(statistics.median(loop))} | {ratio_text(over_sql)} | "
                     f"{ratio_text(over_loop)} |")
    return [*lines, ""]


def oban_only_table(results: Results) -> list[str]:
    """Every other figure: django-oban only, or a variant of a side-by-side one (with its ratio to the best peer)."""
    names = list(SYSTEMS)
    lines = ["| figure | measured on | median | × best peer |", "|---|---|---:|---:|"]  # noqa: RUF001
    for scenario in results.scenarios():
        systems = results.systems(scenario)
        if set(systems) == {"api", "sql", "loop"}:
            continue
        for system in systems:
            if system in names and any(other in PEERS for other in systems):
                continue  # in the side-by-side table
            lines.append(f"| {scenario} | {system} | {fmt(results.median(scenario, system))} | "
                         f"{ratio_text(results.ratio(scenario, system))} |")
    return [*lines, ""] if len(lines) > 2 else []


def write(text: str) -> None:
    """Replace the results section of docs/benchmarks.md (between its markers) with ``text``."""
    document = DOC.read_text()
    before, rest = document.split(START, 1)
    after = rest.split(END, 1)[1]
    DOC.write_text(f"{before}{START}\n{text}\n{END}{after}")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5000, help="jobs per execution and bulk-enqueue run")
    parser.add_argument("--enqueue-jobs", type=int, help="jobs enqueued one by one (default: --jobs)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pickup-samples", type=int, default=200)
    parser.add_argument("--cancel-samples", type=int, default=50)
    parser.add_argument("--bulk-jobs", type=int, default=100_000, help="jobs per bulk cancel/retry/delete/update")
    parser.add_argument("--loop-jobs", type=int, default=2000, help="jobs the per-row loop runs on (rate compared)")
    parser.add_argument("--memory-jobs", type=int, default=100_000, help="jobs of the worker-memory run (last round)")
    parser.add_argument("--large-jobs", type=int, default=10_000_000,
                        help="jobs of the big-table scenario (admin, claim latency; last round)")
    parser.add_argument("--scenarios", nargs="+", default=SIDE_BY_SIDE + OBAN_ONLY, choices=SIDE_BY_SIDE + OBAN_ONLY)
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=list(SYSTEMS))
    parser.add_argument("--url", help="an existing, empty PostgreSQL database instead of a throw-away cluster")
    parser.add_argument("--write", action="store_true", help="write the tables into docs/benchmarks.md")
    options = parser.parse_args(argv)
    options.enqueue_jobs = options.enqueue_jobs or options.jobs
    return options


def main(argv: list[str], report: Callable[[str], None] = print) -> Results:
    options = parse(argv)
    with database(options.url) as url:
        setup_django(url)
        results = run(options, url)
        header = (
            f"Run of {datetime.date.today().isoformat()}: `python benchmarks/run.py {' '.join(argv)}`; "
            f"{options.rounds} rounds, medians. Machine: {machine()}, load average at the end "
            f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])}. Versions: {versions(url, options.systems)}."
        )
    text = markdown(results, options, header)
    report(text)
    if options.write:
        write(text)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
