"""A seconds-long run of the benchmark harness (benchmarks/run.py): every scenario, tiny sizes,
django-oban only, so the harness cannot rot. The figures themselves are not judged here."""

from __future__ import annotations

import re

import pytest

from benchmarks import run
from tests.runtime.helpers import worker_env


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_every_scenario_runs_and_reports_a_figure() -> None:
    options = run.parse(
        ["--jobs", "30", "--rounds", "1", "--pickup-samples", "3", "--cancel-samples", "2", "--bulk-jobs", "60",
         "--loop-jobs", "5", "--memory-jobs", "30", "--large-jobs", "3000", "--systems", "django-oban"]
    )
    results = run.run(options, worker_env()["DATABASE_URL"])

    expected = [
        "execution, concurrency 1 (jobs/s)", "execution, concurrency 10 (jobs/s)",
        "execution, concurrency 50 (jobs/s)", "bare claim-and-acknowledge loop, concurrency 1 (jobs/s)",
        "execution at concurrency 1 ÷ the bare loop",
        "enqueue one by one (jobs/s)", "enqueue bulk, 30 jobs (jobs/s)", "idle pickup latency p50 (ms)",
        "idle pickup latency p95 (ms)", *(f"bulk {name}, 60 jobs (jobs/s)" for name in run.scenarios.BULK_OPERATIONS),
        "cancellation latency p50 (ms)", "cancellation latency p95 (ms)",
        "worker RSS after the first jobs, of 30 (MB)", "worker RSS after 30 jobs (MB)",
        *(f"admin change list on 3,000 jobs, {page} (ms)" for page in run.large.PAGES),
    ]
    *scenarios, retry = results.scenarios()
    assert scenarios == expected
    assert re.fullmatch(r"admin retry of a filtered selection \(~\d+ of 3,000 jobs\) \(ms\)", retry)
    expected.append(retry)
    for scenario in expected:
        for system in results.systems(scenario):
            assert results.median(scenario, system) > 0, (scenario, system)
    assert results.systems("bulk cancel, 60 jobs (jobs/s)") == ["api", "sql", "loop"]
    big = "django-oban, 3,000 finished jobs in the table"
    assert results.systems("idle pickup latency p95 (ms)") == ["django-oban", big]
    table = run.markdown(results, options, "header")
    assert "| update_many, 60 jobs |" in table  # the bulk table
    assert "| cancellation latency p95 (ms) | django-oban |" in table  # the django-oban-only table


def test_ratios_compare_with_the_best_peer_of_the_same_round() -> None:
    results = run.Results(peers=["fast", "slow"])
    for oban, fast, slow in [(300.0, 100.0, 50.0), (200.0, 50.0, 100.0)]:
        results.add("rate", "django-oban", oban)
        results.add("rate", "fast", fast)
        results.add("rate", "slow", slow)
        results.add("latency", "django-oban", oban / 100, lower=True)
        results.add("latency", "fast", fast / 100, lower=True)

    assert results.ratio("rate", "django-oban") == pytest.approx(2.5)  # median of 300/100 and 200/100
    assert results.ratio("latency", "django-oban") == pytest.approx((1 / 3 + 1 / 4) / 2)
    # A peer is compared with the other peers, django-oban left out: 50/100 and 100/50.
    assert results.ratio("rate", "slow") == pytest.approx(1.25)
    # A figure of the last round only (the big table) is compared with that round's peers.
    results.add("rate", "django-oban, big table", 150.0)
    assert results.ratio("rate", "django-oban, big table") == pytest.approx(1.5)


def test_the_tables_put_each_figure_where_a_reader_compares_it() -> None:
    results = run.Results()
    for oban, peer in [(300.0, 100.0), (200.0, 100.0)]:
        results.add("rate (jobs/s)", "django-oban", oban)
        results.add("rate (jobs/s)", "pgqueuer", peer)
        results.add("rate (jobs/s)", "SQL loop", 150.0)
        for way, value in (("api", 1000.0), ("sql", 1200.0), ("loop", 10.0)):
            results.add("bulk retry, 60 jobs (jobs/s)", way, value)
    results.notes["django-tasks-db"] = "not installed"
    table = run.markdown(results, run.parse([]), "header")
    assert "| rate (jobs/s) | 250 | — | — | 100 | 2.50× |" in table  # noqa: RUF001 - side by side, medians, ratio to peers only
    assert "| retry, 60 jobs | 1,000 | 1,200 | 10.00 | 1.20× | 100.00× |" in table  # noqa: RUF001 - API time / SQL time
    assert "| rate (jobs/s) | SQL loop | 150 | 1.50× |" in table  # noqa: RUF001 - a variant, with its ratio to the best peer
    assert "- django-tasks-db: not installed." in table
