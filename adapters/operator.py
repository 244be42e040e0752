"""The operator's view of one bot process, put together: the figures (Prometheus), the
health checks, and where /healthz and /metrics are served. bot.py builds one and tells
it about each part as that part starts."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from aiohttp import web

from storycraft_bot.core.clock import Clock
from storycraft_bot.core.metered_view import MeteredView
from storycraft_bot.core.metrics import Metrics
from storycraft_bot.core.narrator_queue import NarratorLoad
from storycraft_bot.core.ports import StoryView
from storycraft_bot.core.store import StoryStore
from storycraft_bot.narration.ollama_gateway import OllamaGateway
from storycraft_bot.pictures.comfyui import ComfyClient

from .health import Part, Probe, comfyui_probe, database_probe, ollama_probe, platform_probe
from .operator_http import HEALTH_PATH, METRICS_PATH, RouteServer, operator_routes
from .prometheus_metrics import PrometheusMetrics

log = logging.getLogger(__name__)

_MISSING = {
    Part.DISCORD: "the Discord gateway is not ready",
    Part.TELEGRAM: "Telegram updates are not coming in",
    Part.WEB: "the web adapter does not listen",
}


class Watched(Protocol):
    """A platform adapter as the operator sees it (every Screen has `count_with`)."""

    @property
    def connected(self) -> bool: ...

    def count_with(self, metrics: Metrics) -> None: ...


class Operator:
    """Figures and checks of this process; `probes` grows as platforms start."""

    def __init__(
        self,
        clock: Clock,
        store: StoryStore,
        gateway: OllamaGateway,
        narration: NarratorLoad,
        comfyui: Sequence[ComfyClient] = (),
    ) -> None:
        self.metrics = PrometheusMetrics(clock)
        self.metrics.watch_narrator(narration)

        async def count_stories() -> None:
            self.metrics.stories_live.set(len(await store.active_sessions()))

        self.metrics.add_sampler(count_stories)
        self.probes: list[Probe] = [database_probe(store), ollama_probe(gateway)]
        if comfyui:
            self.probes.append(comfyui_probe(comfyui))
        self._clock = clock
        self._server: RouteServer | None = None

    def view(self, inner: StoryView) -> MeteredView:
        """The engine's view: counts every event, then shows it through `inner`."""
        return MeteredView(inner, self.metrics, self._clock)

    def watch(self, part: Part, platform: Watched) -> None:
        """A started platform: its rate limits are counted, its connection checked."""
        platform.count_with(self.metrics)
        self.probes.append(platform_probe(part, lambda: platform.connected, _MISSING[part]))

    def routes(self) -> list[web.RouteDef]:
        return operator_routes(self.probes, self.metrics)

    async def serve_alone(self, host: str, port: int) -> str | None:
        """/healthz and /metrics on a server of their own; None (logged) if refused."""
        server = RouteServer(self.routes(), host, port, f"{HEALTH_PATH} and {METRICS_PATH}")
        try:
            address = await server.start()
        except OSError as err:
            log.error("/healthz and /metrics could not listen on %s:%s (%s)", host, port, err)
            return None
        self._server = server
        return address

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
