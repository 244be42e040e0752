"""Telegram updates by webhook, for several bot processes behind one URL: Telegram POSTs
each update to TELEGRAM_WEBHOOK_URL (any process may get any update; the engine keys
everything on the chat), with our secret in X-Telegram-Bot-Api-Secret-Token.

Every request is checked for that secret before anything else: a request without it,
or with another, is answered 403 and logged, and changes nothing. The update then goes
into python-telegram-bot's own queue, so handlers run exactly as with long polling.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from .operator_http import RouteServer

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: What the bot asks Telegram for, by polling or by webhook.
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]

#: Takes one update's JSON; False when it is not an update.
Receive = Callable[[dict[str, Any]], Awaitable[bool]]


def webhook_path(url: str) -> str:
    """Where the webhook is served: the path of TELEGRAM_WEBHOOK_URL ("/" when none)."""
    return urlsplit(url).path or "/"


def webhook_routes(path: str, secret: str, receive: Receive) -> list[web.RouteDef]:
    """POST `path`: the secret checked, the body handed to `receive`."""
    if not secret:
        raise ValueError("a webhook needs its secret token")

    async def on_update(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            why = "without the secret" if not given else "with a wrong secret"
            log.warning("telegram webhook: refused a request %s from %s", why, request.remote)
            return web.Response(status=403, text="forbidden")
        try:
            data = await request.json()
        except ValueError:
            data = None
        if not isinstance(data, dict) or not await receive(data):
            log.warning("telegram webhook: refused a body that is no update")
            return web.Response(status=400, text="not an update")
        return web.Response(text="ok")

    return [web.post(path, on_update)]


class WebhookReceiver:
    """The webhook's own small server (TELEGRAM_WEBHOOK_HOST:PORT, the URL's path);
    listening before Telegram is told the URL, so no update finds it closed."""

    def __init__(self, url: str, secret: str, host: str, port: int) -> None:
        self._url = url
        self._secret = secret
        self._host = host
        self._port = port
        self._server: RouteServer | None = None

    @property
    def listening(self) -> bool:
        return self._server is not None

    async def start(self, receive: Receive) -> str:
        """Listen; the address. Raises OSError when the port is taken."""
        routes = webhook_routes(webhook_path(self._url), self._secret, receive)
        server = RouteServer(routes, self._host, self._port, "the Telegram webhook")
        address = await server.start()
        self._server = server
        return address

    async def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            await server.stop()
