"""OpenTelemetry tracing of jobs, when ``opentelemetry-api`` is installed (``django-oban[otel]``).

Enqueueing stores the current trace context in ``meta["otel"]`` (W3C ``traceparent`` and
friends, as the configured propagator writes them); the worker runs each job in a span whose
parent is that context, so a request's trace continues into the jobs it enqueued. The span
is named after the worker and carries the job's id, worker, queue and attempt, and its
outcome state; an exception that failed the attempt is recorded on it. Without the package
nothing is imported and both hooks do nothing; with the API alone (no tracer provider
configured, e.g. by the SDK) jobs run in no span.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Protocol

try:
    from opentelemetry import context, propagate, trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError:
    ENABLED = False
else:
    ENABLED = True

#: The key of ``Job.meta`` holding the trace context of the enqueue.
META_KEY = "otel"
#: The instrumentation scope of the spans.
TRACER_NAME = "django_oban"


class TracedJob(Protocol):
    """What a span reads of a ``Job``."""

    pk: Any
    worker: str
    queue: str
    attempt: int
    meta: Any


def with_trace_context(meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` with the current trace context under ``META_KEY``, if there is one and it has none yet."""
    if not ENABLED or META_KEY in meta:
        return meta
    carrier = current_carrier()
    return {**meta, META_KEY: carrier} if carrier else meta


#: The last injection: the context and propagator it was made with, and what it wrote. A
#: context never changes (a new span or baggage makes a new one), so the jobs enqueued under
#: one context (a request, a batch) share one injection.
_last_injection: tuple[Any, Any, dict[str, str]] = (None, None, {})


def current_carrier() -> dict[str, str]:
    """What the global propagator writes of the current context (a new dict each time)."""
    global _last_injection
    current, propagator = context.get_current(), propagate.get_global_textmap()
    last_context, last_propagator, carrier = _last_injection
    if current is not last_context or propagator is not last_propagator:
        carrier = {}
        propagator.inject(carrier, context=current)
        _last_injection = (current, propagator, carrier)
    return dict(carrier)


class JobSpan:
    """The span a job runs in; this base class (no OpenTelemetry) does nothing."""

    def __enter__(self) -> JobSpan:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, trace_back: TracebackType | None
    ) -> None:
        return None

    def failed(self, exc: BaseException) -> None:
        """Record ``exc``, which failed the attempt."""

    def finished(self, state: str) -> None:
        """Record the state the attempt ends in."""


class OpenTelemetryJobSpan(JobSpan):
    """A current span for the job, child of the context stored at enqueue."""

    def __init__(self, job: TracedJob, tracer: Any) -> None:
        self.job = job
        self.tracer = tracer

    def __enter__(self) -> JobSpan:
        job = self.job
        attributes = {
            "messaging.system": "oban",
            "messaging.destination.name": job.queue,
            "oban.job.id": job.pk,
            "oban.job.worker": job.worker,
            "oban.job.queue": job.queue,
            "oban.job.attempt": job.attempt,
        }
        self.span = self.tracer.start_span(
            job.worker, context=enqueue_context(job), kind=SpanKind.CONSUMER, attributes=attributes
        )
        self.activation = trace.use_span(self.span, end_on_exit=True)
        self.activation.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, trace_back: TracebackType | None
    ) -> None:
        self.activation.__exit__(kind, exc, trace_back)

    def failed(self, exc: BaseException) -> None:
        self.span.record_exception(exc)
        self.span.set_status(Status(StatusCode.ERROR, type(exc).__name__))

    def finished(self, state: str) -> None:
        self.span.set_attribute("oban.job.state", state)


_NO_SPAN = JobSpan()


def job_span(job: TracedJob) -> JobSpan:
    """The span to run ``job`` in (``with job_span(job) as span: …``).

    A no-op without OpenTelemetry, and while no tracer provider is configured (the API's
    default records nothing): the job then costs no span.
    """
    if not ENABLED:
        return _NO_SPAN
    provider = trace.get_tracer_provider()
    if isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
        return _NO_SPAN
    return OpenTelemetryJobSpan(job, tracer_of(provider))


#: The tracer of the last provider asked: ``get_tracer`` builds its scope and touches the
#: warning filters on each call, so it is asked once per provider, not once per job.
_tracers: dict[Any, Any] = {}


def tracer_of(provider: Any) -> Any:
    """The ``django_oban`` tracer of ``provider`` (asked of it once, as long as it stays the provider)."""
    tracer = _tracers.get(provider)
    if tracer is None:
        _tracers.clear()
        tracer = _tracers[provider] = provider.get_tracer(TRACER_NAME)
    return tracer


def enqueue_context(job: TracedJob) -> Any:
    """The OpenTelemetry context stored in the job's meta at enqueue, or ``None`` (a new trace)."""
    carrier = job.meta.get(META_KEY) if isinstance(job.meta, dict) else None
    if not isinstance(carrier, dict) or not all(isinstance(v, str) for v in carrier.values()):
        return None
    return propagate.extract(carrier)
