"""The dashboard's charts as SVG shapes, laid out here and drawn by the templates (no JavaScript, no build step)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..dashboard import Timing
from ..states import FINISHED_STATES
from .changelist import STATE_COLOURS

#: The throughput chart's size, in SVG units (it scales to the page's width).
WIDTH, HEIGHT, AXIS = 720, 160, 20
#: A timing chart's row height and the width of its longest bar.
ROW, BAR_WIDTH, LABEL_WIDTH = 28, 360, 260


@dataclass(frozen=True)
class Bar:
    """One rectangle, with the tooltip it shows."""

    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass(frozen=True)
class Label:
    """Text at a point."""

    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Chart:
    """The shapes of one chart and its size."""

    width: int
    height: int
    bars: list[Bar]
    labels: list[Label]


def throughput_chart(throughput: list[tuple[datetime, dict[str, int]]]) -> Chart:
    """Jobs finished per minute, one bar per minute, stacked by state (completed at the bottom)."""
    peak = max((sum(counts.values()) for _, counts in throughput), default=0) or 1
    step = WIDTH / max(len(throughput), 1)
    plot = HEIGHT - AXIS
    bars, labels = [], [Label(0, 12, f"{peak}/min")]
    for index, (minute, counts) in enumerate(throughput):
        top = float(plot)
        for state in FINISHED_STATES:
            height = plot * counts[state] / peak
            if height:
                top -= height
                bars.append(Bar(index * step, top, step * 0.85, height, STATE_COLOURS[state],
                                f"{minute:%H:%M} {counts[state]} {state}"))
        if index % 15 == 0:
            labels.append(Label(index * step, HEIGHT - 4, f"{minute:%H:%M}"))
    return Chart(WIDTH, HEIGHT, bars, labels)


def timing_chart(timings: list[Timing]) -> Chart:
    """For each queue or worker, its p95 run time (top bar) and queue time (bottom bar), on one scale."""
    longest = max((duration for timing in timings for duration in (timing.run_time, timing.queue_time)
                   if duration is not None), default=timedelta(0)).total_seconds() or 1.0
    bars, labels = [], []
    for row, timing in enumerate(timings):
        y = row * ROW * 1.5
        labels.append(Label(0, y + ROW * 0.6, f"{timing.name} ({timing.finished})"))
        for offset, (kind, duration, colour) in enumerate((("run", timing.run_time, "#2b7bb9"),
                                                           ("queue", timing.queue_time, "#d08700"))):
            seconds = max((duration or timedelta(0)).total_seconds(), 0.0)
            bars.append(Bar(LABEL_WIDTH, y + offset * ROW / 2, max(BAR_WIDTH * seconds / longest, 1.0), ROW / 2 - 1,
                            colour, f"{timing.name}: p95 {kind} time {seconds_text(seconds)}"))
            labels.append(Label(LABEL_WIDTH + BAR_WIDTH + 8, y + offset * ROW / 2 + ROW / 2 - 2,
                                f"{kind} {seconds_text(seconds)}"))
    return Chart(LABEL_WIDTH + BAR_WIDTH + 110, max(int(len(timings) * ROW * 1.5), ROW), bars, labels)


def seconds_text(seconds: float) -> str:
    """A duration for a person: ``850 ms``, ``4.2 s``, ``3.5 min``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
