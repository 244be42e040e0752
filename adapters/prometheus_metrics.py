"""The Metrics port on prometheus-client, in a registry of this process's own (never the
library's global one, so two bots in one test process never share a counter).

Counters and histograms move as the core reports; figures that are states (stories
live, the narrator's queue, how long ComfyUI has been idle) are read when scraped,
through `Sampler`s the composition root hands over.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from storycraft_bot.core.clock import Clock
from storycraft_bot.core.metrics import FailureReason
from storycraft_bot.core.models import Platform
from storycraft_bot.core.narrator_queue import NarratorLoad

#: Seconds: a part takes from under a second (a prewritten draft) to minutes on a CPU.
TURN_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600)
WAIT_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)

#: Refreshes a figure before a scrape (e.g. counts the stories in the database).
Sampler = Callable[[], Awaitable[None]]


class PrometheusMetrics:
    """StoryCraft's figures under the `storycraft_` prefix."""

    def __init__(self, clock: Clock, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self._clock = clock
        self._samplers: list[Sampler] = []
        self._drawing = 0
        self._idle_since = clock.now()
        r = self.registry
        self.turns = Counter(
            "storycraft_turns", "Parts written", ["platform"], registry=r
        )  # exported as storycraft_turns_total
        self.turn_seconds = Histogram(
            "storycraft_turn_seconds",
            "From asking for a part to its last word",
            ["platform"],
            buckets=TURN_BUCKETS,
            registry=r,
        )
        self.failures = Counter(
            "storycraft_failures", "Parts and pictures that failed", ["reason"], registry=r
        )
        self.rate_limits = Counter(
            "storycraft_rate_limited",
            "Platform calls refused with a rate limit",
            ["platform"],
            registry=r,
        )
        self.stories_live = Gauge(
            "storycraft_stories_live", "Stories active or paused (the whole fleet)", registry=r
        )
        self.pictures_waiting = Gauge(
            "storycraft_picture_queue_length", "Pictures waiting for ComfyUI", registry=r
        )
        self.pictures_drawing = Gauge(
            "storycraft_pictures_drawing", "Pictures ComfyUI is drawing", registry=r
        )
        self.picture_wait = Histogram(
            "storycraft_picture_wait_seconds",
            "How long a picture waited before ComfyUI started it",
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        idle = Gauge(
            "storycraft_comfyui_idle_seconds",
            "Seconds since ComfyUI last drew for us (0 while it draws)",
            registry=r,
        )
        idle.set_function(self._idle_seconds)
        for platform in Platform:  # every series present from the start, at 0
            self.turns.labels(platform.value)
            self.rate_limits.labels(platform.value)
        for reason in FailureReason:
            self.failures.labels(reason.value)

    # The Metrics port

    def turn_finished(self, platform: Platform, seconds: float) -> None:
        self.turns.labels(platform.value).inc()
        self.turn_seconds.labels(platform.value).observe(max(0.0, seconds))

    def failed(self, reason: FailureReason) -> None:
        self.failures.labels(reason.value).inc()

    def picture_queued(self, waiting: int) -> None:
        self.pictures_waiting.set(waiting)

    def picture_started(self, waiting: int, waited: float, drawing: int) -> None:
        self.pictures_waiting.set(waiting)
        self.picture_wait.observe(max(0.0, waited))
        self._set_drawing(drawing)

    def picture_ended(self, waiting: int, drawing: int) -> None:
        self.pictures_waiting.set(waiting)
        self._set_drawing(drawing)

    def rate_limited(self, platform: Platform) -> None:
        self.rate_limits.labels(platform.value).inc()

    # Scraping

    def add_sampler(self, sampler: Sampler) -> None:
        self._samplers.append(sampler)

    def watch_narrator(self, queue: NarratorLoad) -> None:
        """The narrator's waiting line, read at each scrape."""
        self.registry.register(_NarratorCollector(queue))

    async def render(self) -> bytes:
        """The text exposition format, after every sampler ran."""
        for sampler in self._samplers:
            await sampler()
        return generate_latest(self.registry)

    def _set_drawing(self, drawing: int) -> None:
        if drawing == 0 and self._drawing:
            self._idle_since = self._clock.now()
        self._drawing = drawing
        self.pictures_drawing.set(drawing)

    def _idle_seconds(self) -> float:
        return 0.0 if self._drawing else max(0.0, self._clock.now() - self._idle_since)


class _NarratorCollector(Collector):
    """The narrator gate's own counts, read when scraped (it keeps them anyway)."""

    def __init__(self, queue: NarratorLoad) -> None:
        self._queue = queue

    def describe(self) -> Iterable[Metric]:
        return self.collect()

    def collect(self) -> Iterable[Metric]:
        queue = self._queue
        yield GaugeMetricFamily(
            "storycraft_narrator_queue_length", "Text requests waiting for Ollama", queue.waiting
        )
        yield GaugeMetricFamily(
            "storycraft_narrator_running", "Text requests Ollama is writing", queue.running
        )
        figures = queue.figures
        yield SummaryMetricFamily(
            "storycraft_narrator_wait_seconds",
            "How long text requests waited for a slot (those that waited)",
            count_value=figures.waited,
            sum_value=figures.total_seconds,
        )
