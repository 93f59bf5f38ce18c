"""OpenTelemetry: enqueue stores the trace context, each job runs in a span whose parent it is.

Spans go to the SDK's in-memory exporter through a provider of the test's own (the global one
is left alone, so no other test runs traced).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from django_oban import tracing
from django_oban.testing import drain_queue
from tests.runtime.helpers import REPO_ROOT
from tests.runtime.jobs import Fails, Noop

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    """A tracer provider recording in memory, used by django_oban's spans for the test."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    yield provider, exporter
    provider.shutdown()


def test_a_job_runs_in_a_span_whose_parent_is_the_enqueue(
    provider: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    tracer_provider, exporter = provider
    with tracer_provider.get_tracer("test").start_as_current_span("request") as request:
        job = Noop.enqueue({"n": 1})
    context = request.get_span_context()
    assert job.meta["otel"]["traceparent"].split("-")[1:3] == [f"{context.trace_id:032x}", f"{context.span_id:016x}"]
    assert drain_queue("default") == {"completed": 1}
    [span] = [span for span in exporter.get_finished_spans() if span.name == Noop.path()]
    assert span.parent is not None and span.parent.span_id == context.span_id
    assert span.context.trace_id == context.trace_id
    assert span.kind is SpanKind.CONSUMER
    assert dict(span.attributes) == {
        "messaging.system": "oban",
        "messaging.destination.name": "default",
        "oban.job.id": job.pk,
        "oban.job.worker": Noop.path(),
        "oban.job.queue": "default",
        "oban.job.attempt": 1,
        "oban.job.state": "completed",
    }
    assert span.status.status_code is StatusCode.UNSET


def test_a_failed_attempt_records_its_exception_and_a_job_without_context_starts_a_trace(
    provider: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    _, exporter = provider
    job = Fails.enqueue()
    assert "otel" not in job.meta  # no current span at enqueue
    drain_queue("default")
    [span] = exporter.get_finished_spans()
    assert span.parent is None
    assert span.attributes["oban.job.state"] == "retryable"
    assert span.status.status_code is StatusCode.ERROR
    [event] = span.events
    assert (event.name, event.attributes["exception.type"], event.attributes["exception.message"]) == (
        "exception", "ValueError", "boom on attempt 1"
    )


def test_without_opentelemetry_enqueue_and_jobs_are_untouched() -> None:
    script = (
        "import sys; sys.modules['opentelemetry'] = None\n"  # the package cannot be imported
        "import django; django.setup()\n"
        "from django_oban import tracing\n"
        "from django_oban.models import Job\n"
        "job = Job(worker='tests.workers.Noop', meta={'a': 1}, pk=1, attempt=1)\n"
        "with tracing.job_span(job) as span:\n"
        "    span.failed(ValueError('x')); span.finished('retryable')\n"
        "print(tracing.ENABLED, tracing.with_trace_context({'a': 1}), type(span).__name__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
        env={"DJANGO_SETTINGS_MODULE": "testproject.settings", "PATH": ""},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False {'a': 1} JobSpan"


def test_with_the_api_alone_jobs_run_in_no_span() -> None:
    job = Noop.new()
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)  # no SDK configured
    assert type(tracing.job_span(job)) is tracing.JobSpan
