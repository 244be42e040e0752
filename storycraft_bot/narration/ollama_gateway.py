"""Talks to Ollama through the official `ollama` async client.

The one place that turns transport and HTTP errors into our own classes, retries with
jittered backoff, and switches to the fallback model when the configured one is not
installed. Timeouts follow progress: a reply may take as long as it likes while tokens keep
coming (a CPU model writes 1-5 a second), but not `first_token_timeout` before the first
one nor `token_timeout` between two. Its length is bounded by `num_predict` instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx
import ollama
import pydantic
from pydantic_core import from_json

from storycraft_bot.core.clock import Clock, SystemClock
from storycraft_bot.core.errors import (
    ModelNotInstalled,
    NarratorError,
    NarratorTimeout,
    NarratorUnavailable,
)
from storycraft_bot.narration.ollama_pool import OllamaPool, OllamaServer, ServerDown

log = logging.getLogger(__name__)

Message = Mapping[str, str]
OnContent = Callable[[str], Awaitable[None]]

_RETRYABLE_STATUS = {408, 409, 429}
#: A reply that is not streamed has no first token to wait for: it may take this long per
#: token it may hold (a CPU model writes 1-5 a second) on top of FIRST_TOKEN_TIMEOUT.
SECONDS_PER_UNSTREAMED_TOKEN = 1.0


@dataclass(frozen=True, slots=True)
class OllamaConfig:
    """What the gateway needs from the settings."""

    model: str
    fallback_model: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    keep_alive: str | float = "10m"
    first_token_timeout: float = 60.0
    token_timeout: float = 60.0
    retries: int = 2
    backoff_base: float = 0.5
    backoff_max: float = 8.0


@dataclass(frozen=True, slots=True)
class ChatResult:
    """A whole reply and the model that wrote it."""

    content: str
    model: str
    done_reason: str = "stop"

    @property
    def truncated(self) -> bool:
        """The model stopped at `num_predict`, so the reply is cut short."""
        return self.done_reason == "length"


class OllamaGateway:
    """Streaming chat with retries and fallback; health checks for start-up."""

    def __init__(
        self,
        pool: OllamaPool,
        config: OllamaConfig,
        rng: random.Random | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._pool = pool
        self._config = config
        self._rng = rng or random.Random()
        self._clock = clock or SystemClock()
        self._unavailable_models: set[str] = set()

    @property
    def config(self) -> OllamaConfig:
        return self._config

    @property
    def pool(self) -> OllamaPool:
        return self._pool

    async def version(self) -> str:
        """The first answering server's version (NarratorUnavailable when none answers)."""
        failure: BaseException | None = None
        for server in self._pool.healthy() or list(self._pool.servers):
            try:
                response = await server.http.get("/api/version")
                response.raise_for_status()
                return str(response.json().get("version", "?"))
            except (httpx.HTTPError, ValueError) as err:
                failure = err
        reason = _describe(failure) if failure is not None else "no server"
        raise NarratorUnavailable(f"Ollama is not reachable: {reason}") from failure

    async def installed_models(self) -> list[str]:
        """Names of the models in /api/tags (of the least busy healthy server)."""
        server = self._pool.acquire()
        try:
            listing = await server.client.list()
        except Exception as err:
            raise _map_error(err, "") from err
        finally:
            self._pool.release(server)
        return [m.model for m in listing.models if m.model]

    async def loaded_models(self) -> list[str]:
        """Models loaded in memory now (/api/ps), on any healthy server."""
        loaded: list[str] = []
        for server in self._pool.healthy():
            try:
                listing = await server.client.ps()
            except Exception as err:
                raise _map_error(err, "") from err
            loaded += [m.model for m in listing.models if m.model and m.model not in loaded]
        return loaded

    async def unload(self, model: str) -> None:
        """Unload a model from GPU memory at once (`keep_alive: 0`) on every healthy server."""
        for server in self._pool.healthy():
            try:
                await server.client.generate(model=model, prompt="", keep_alive=0)
            except Exception as err:
                raise _map_error(err, model) from err

    async def chat(
        self,
        messages: Sequence[Message],
        *,
        schema: Mapping[str, Any] | None = None,
        on_content: OnContent | None = None,
        model: str | None = None,
        num_predict: int | None = None,
    ) -> ChatResult:
        """Stream one chat reply, retrying safe failures; `on_content` sees the text so far.

        `num_predict` caps this reply's tokens (within the configured ceiling)."""
        current = self._pick_model(model or self._config.model)
        options = dict(self._config.options)
        if num_predict is not None:
            ceiling = options.get("num_predict")
            options["num_predict"] = min(num_predict, ceiling) if ceiling else num_predict
        attempt = switches = 0
        servers = len(self._pool.servers)
        while True:
            try:
                return await self._chat_once(current, messages, schema, options, on_content)
            except ModelNotInstalled:
                replacement = self._replacement_for(current)
                if replacement is None:
                    raise
                log.warning("model %s is not installed; switching to %s", current, replacement)
                self._unavailable_models.add(current)
                current = replacement
            except NarratorUnavailable as err:
                if isinstance(err, ServerDown) and self._pool.healthy() and switches < servers:
                    switches += 1  # no pause: another server takes it at once
                    continue
                if attempt >= self._config.retries:
                    raise
                attempt += 1
                delay = self._backoff(attempt)
                log.warning(
                    "Ollama failed (%s); retry %d/%d in %.2fs",
                    err,
                    attempt,
                    self._config.retries,
                    delay,
                )
                await self._clock.sleep(delay)

    def _pick_model(self, wanted: str) -> str:
        if wanted in self._unavailable_models:
            return self._replacement_for(wanted) or wanted
        return wanted

    def _replacement_for(self, model: str) -> str | None:
        for candidate in (self._config.fallback_model, self._config.model):
            if candidate and candidate != model and candidate not in self._unavailable_models:
                return candidate
        return None

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self._config.backoff_max, self._config.backoff_base * 2 ** (attempt - 1))
        return self._rng.uniform(ceiling / 2, ceiling)  # jitter, so clients spread out

    async def _chat_once(
        self,
        model: str,
        messages: Sequence[Message],
        schema: Mapping[str, Any] | None,
        options: Mapping[str, Any],
        on_content: OnContent | None,
    ) -> ChatResult:
        first = self._config.first_token_timeout
        if on_content is None:  # one whole reply: give it the time its length may take
            first += SECONDS_PER_UNSTREAMED_TOKEN * int(options.get("num_predict") or 0)
        progress = _Progress(self._clock.now() + first)
        server = self._pool.acquire()
        reader = asyncio.create_task(
            self._read_stream(server, model, messages, schema, options, on_content, progress)
        )
        watchdog = asyncio.create_task(self._watch(reader, progress))
        try:
            result = await reader
        except asyncio.CancelledError:
            if progress.stalled is None:
                raise  # our caller was cancelled, not the reply
            raise NarratorTimeout(progress.stalled.format(model=model)) from None
        except ServerDown as err:
            self._pool.mark_down(server, str(err))
            raise
        finally:
            watchdog.cancel()
            self._pool.release(server)
        self._pool.mark_up(server)
        return result

    async def _watch(self, reader: asyncio.Task[ChatResult], progress: _Progress) -> None:
        """Cancel the reader once no token came before the deadline (moved by each token)."""
        while not reader.done():
            left = progress.deadline - self._clock.now()
            if left <= 0:
                progress.stalled = (
                    f"no token from {{model}} for {self._config.token_timeout:g}s"
                    if progress.tokens
                    else f"no first token from {{model}} in {self._config.first_token_timeout:g}s"
                )
                reader.cancel()
                return
            await self._clock.sleep(left)

    async def _read_stream(
        self,
        server: OllamaServer,
        model: str,
        messages: Sequence[Message],
        schema: Mapping[str, Any] | None,
        options: Mapping[str, Any],
        on_content: OnContent | None,
        progress: _Progress,
    ) -> ChatResult:
        request: dict[str, Any] = {
            "model": model,
            "messages": [dict(m) for m in messages],
            "format": dict(schema) if schema is not None else None,
            "options": dict(options),
            "keep_alive": self._config.keep_alive,
        }
        try:
            if request["format"] is None:
                del request["format"]
            if on_content is None:  # nobody watches it being written: one JSON reply
                return await _whole(server, {**request, "stream": False})
            return await self._stream(server, {**request, "stream": True}, on_content, progress)
        except NarratorError:
            raise
        except (
            ConnectionError,
            httpx.ConnectError,
            httpx.ConnectTimeout,
            aiohttp.ClientConnectorError,
            aiohttp.ConnectionTimeoutError,
        ) as err:
            # httpx-aiohttp reports a refused connection as ConnectTimeout
            raise ServerDown(f"cannot talk to Ollama at {server.name}: {_describe(err)}") from err
        except Exception as err:
            raise _map_error(err, model) from err

    async def _stream(
        self,
        server: OllamaServer,
        request: Mapping[str, Any],
        on_content: OnContent,
        progress: _Progress,
    ) -> ChatResult:
        """Read /api/chat's NDJSON ourselves, whatever arrived at once in one go: the
        official client's pydantic model and line iterator per token cost several times
        the CPU, and a busy bot gets many lines a read, so `on_content` runs once per read,
        not once per token."""
        reply = _StreamedReply(str(request["model"]))
        async with _chunks(server, request) as chunks:
            async for chunk in chunks:
                lines = reply.feed(chunk)
                if not lines:
                    continue
                progress.tokens += lines
                progress.deadline = self._clock.now() + self._config.token_timeout
                if reply.grew:
                    await on_content(reply.text)
                if reply.done:
                    return reply.result()
        raise NarratorUnavailable("the reply ended before Ollama said it was done")


async def _whole(server: OllamaServer, request: Mapping[str, Any]) -> ChatResult:
    """/api/chat's one JSON reply, read as the stream is (see `_stream`): the official
    client's httpx request and pydantic model cost several times the CPU of the rest of
    an image prompt's or a memory's request (bench/transport.py)."""
    async with server.stream.post(server.chat_url, json=request) as answer:
        body = await answer.read()
        if answer.status >= 400:
            raise ollama.ResponseError(body.decode(errors="replace"), answer.status)
    reply = _StreamedReply(str(request["model"]))
    reply.feed(body + b"\n")
    if not reply.done:
        raise NarratorUnavailable("the reply ended before Ollama said it was done")
    return reply.result()


@asynccontextmanager
async def _chunks(
    server: OllamaServer, request: Mapping[str, Any]
) -> AsyncIterator[AsyncIterator[bytes]]:
    """The bytes of /api/chat's reply as they arrive; an HTTP error as ResponseError."""
    async with server.stream.post(server.chat_url, json=request) as reply:
        if reply.status >= 400:
            raise ollama.ResponseError(await reply.text(), reply.status)
        yield reply.content.iter_any()


class _StreamedReply:
    """The NDJSON lines of a streamed chat reply, fed as they arrive."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.done = False
        self.grew = False  # the last feed added text
        self._pieces: list[str] = []
        self._partial = b""
        self._done_reason = ""

    @property
    def text(self) -> str:
        if len(self._pieces) > 1:
            self._pieces = ["".join(self._pieces)]
        return self._pieces[0] if self._pieces else ""

    def feed(self, chunk: bytes) -> int:
        """Take the complete lines in `chunk` (a cut line waits for the rest); how many."""
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        self.grew = False
        count = 0
        for line in lines:
            if not line.strip() or self.done:
                continue
            count += 1
            try:
                part = from_json(line)  # a fifth of json.loads' CPU a line
            except ValueError:
                part = None
            if not isinstance(part, dict):
                raise NarratorUnavailable(f"garbled stream from Ollama: {line[:80]!r}")
            if error := part.get("error"):
                raise ollama.ResponseError(str(error))
            message = part.get("message")
            content = message.get("content") if isinstance(message, dict) else None
            if not isinstance(content, str):
                raise NarratorUnavailable(f"garbled stream from Ollama: {line[:80]!r}")
            if content:
                self._pieces.append(content)
                self.grew = True
            if part.get("done") is True:
                self.done = True
                self.model = str(part.get("model") or self.model)
                self._done_reason = str(part.get("done_reason") or "")
        return count

    def result(self) -> ChatResult:
        return ChatResult(self.text, self.model, self._done_reason)


@dataclass(slots=True)
class _Progress:
    """How far a streaming reply has got; the watchdog reads it."""

    deadline: float
    tokens: int = 0
    stalled: str | None = None


def _map_error(err: BaseException, model: str) -> NarratorError:
    """Our error class for anything the client or the transport raised."""
    if isinstance(err, ollama.ResponseError):
        status = err.status_code
        if status == 404 and "not found" in err.error.lower():
            return ModelNotInstalled(model)
        if status == -1 or status >= 500 or status in _RETRYABLE_STATUS:
            return NarratorUnavailable(f"Ollama answered {status}: {err.error}")
        return NarratorError(f"Ollama refused the request ({status}): {err.error}")
    if isinstance(err, ConnectionError | httpx.TransportError | aiohttp.ClientError):
        return NarratorUnavailable(f"cannot talk to Ollama: {_describe(err)}")
    if isinstance(err, json.JSONDecodeError | pydantic.ValidationError):
        return NarratorUnavailable(f"garbled stream from Ollama: {_describe(err)}")
    return NarratorError(f"unexpected error from Ollama: {_describe(err)}")


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
