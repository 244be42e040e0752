"""The operator's HTTP side: /healthz and /metrics.

On the web adapter's server when it runs (its routes are added before it starts), else
on a small server of its own (METRICS_PORT). /healthz answers 200 when every check
passes, 503 with the reasons otherwise; /metrics is Prometheus' text format.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from .health import Probe, check_health
from .prometheus_metrics import PrometheusMetrics

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"


def operator_routes(probes: Sequence[Probe], metrics: PrometheusMetrics) -> list[web.RouteDef]:
    """GET /healthz and GET /metrics."""

    async def on_health(request: web.Request) -> web.Response:
        health = await check_health(probes)
        return web.json_response(health.as_json(), status=200 if health.healthy else 503)

    async def on_metrics(request: web.Request) -> web.Response:
        body = await metrics.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return [web.get(HEALTH_PATH, on_health), web.get(METRICS_PATH, on_metrics)]


class RouteServer:
    """A few routes on a small server of their own: /healthz and /metrics for a bot
    without the web adapter, the Telegram webhook. `what` names them in the log."""

    def __init__(self, routes: Sequence[web.RouteDef], host: str, port: int, what: str) -> None:
        self._what = what
        self._app = web.Application()
        self._app.add_routes(routes)
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None

    @property
    def address(self) -> str:
        port = self._port
        if self._runner is not None and self._runner.addresses:
            port = self._runner.addresses[0][1]
        host = self._host
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    async def start(self) -> str:
        """Listen; the address. Raises OSError when the port is taken."""
        self._runner = web.AppRunner(self._app, access_log=None, handle_signals=False)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, self._host, self._port).start()
        except BaseException:
            await self._runner.cleanup()
            self._runner = None
            raise
        log.info("%s on %s", self._what, self.address)
        return self.address

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
