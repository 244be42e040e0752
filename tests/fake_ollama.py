"""A fake Ollama server on 127.0.0.1 that speaks Ollama's HTTP API.

`/api/version`, `/api/tags`, `/api/ps`, and streaming NDJSON `/api/chat` and `/api/generate`
(the last line `done: true` with counts and durations), errors as `{"error": "..."}`.
Replies follow the JSON schema sent in `format`, unless a test scripts something else.
Like a real server, a reply longer than `options.num_predict` tokens (here: 4 characters a
token) is cut there and ends with `done_reason: "length"`.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

VERSION = "0.12.6"
CHARS_PER_TOKEN = 4


@dataclass
class Reply:
    """One scripted answer to the next /api/chat (or /api/generate) request."""

    content: str | None = None  # streamed as is; None: made from the request's schema
    status: int = 200
    error: str = ""
    first_token_delay: float = 0.0
    chunk_delay: float = 0.0
    cut_after_chunks: int | None = None  # drop the connection mid-stream
    garbage_line: bool = False  # send a line that is not JSON
    error_line: str = ""  # after the first chunk, an {"error": ...} line ends the stream
    together: bool = False  # every line in one write, as a busy client reads them
    whole_body: bytes | None = None  # a non-streamed reply's body as is (a proxy's page...)
    chunk_size: int = 16
    # Each chunk waits for one release: the test decides how slowly tokens come.
    pace: asyncio.Semaphore | None = None

    @classmethod
    def segment(cls, narration: str, choices: list[str], scene: str = "", **more: Any) -> Reply:
        """A segment reply with exactly these fields (empty choices, long narration...)."""
        value = {"narration": narration, "choices": choices, "scene": scene}
        return cls(content=json.dumps(value, ensure_ascii=False), **more)

    @classmethod
    def memory(cls, summary: str, characters: list[tuple[str, str]], **more: Any) -> Reply:
        """A memory reply with this summary and these (name, looks) pairs."""
        cast = [{"name": name, "looks": looks} for name, looks in characters]
        value = {"summary": summary, "characters": cast}
        return cls(content=json.dumps(value, ensure_ascii=False), **more)


@dataclass
class FakeOllama:
    """Start with `await server.start()`; `url` is then its base URL."""

    models: list[str] = field(default_factory=lambda: ["llama3.1:8b", "qwen2.5:3b"])
    script: deque[Reply] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    segments_written: int = 0
    loaded: set[str] = field(default_factory=set)
    _runner: web.AppRunner | None = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def wait_until(self, check: Any) -> Any:
        """Wait up to 10 s until `check()` is truthy (re-checked after every request)."""
        async with asyncio.timeout(10), self._changed:
            await self._changed.wait_for(check)
        return check()

    def then(self, *replies: Reply) -> FakeOllama:
        """Queue scripted replies, used in order before falling back to the default."""
        self.script.extend(replies)
        return self

    def chat_requests(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Recorded /api/chat bodies, optionally only of one kind (segment, memory, prompt)."""
        chats = [r for r in self.requests if r["_path"] == "/api/chat"]
        return [r for r in chats if kind is None or _kind(r) == kind]

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/api/version", self._version)
        app.router.add_get("/api/tags", self._tags)
        app.router.add_get("/api/ps", self._ps)
        app.router.add_post("/api/chat", self._chat)
        app.router.add_post("/api/generate", self._generate)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # Handlers

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": VERSION})

    async def _tags(self, request: web.Request) -> web.Response:
        return web.json_response({"models": [_model_entry(m) for m in self.models]})

    async def _ps(self, request: web.Request) -> web.Response:
        return web.json_response({"models": [_model_entry(m) for m in sorted(self.loaded)]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, "message")

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, "response")

    async def _answer(self, request: web.Request, field_name: str) -> web.StreamResponse:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(400, "invalid JSON body")
        body["_path"] = request.path
        self.requests.append(body)
        async with self._changed:
            self._changed.notify_all()
        reply = self.script.popleft() if self.script else Reply()
        model = body.get("model", "")
        if reply.status != 200:
            return _error(reply.status, reply.error or "scripted failure")
        if model not in self.models and f"{model}:latest" not in self.models:
            return _error(404, f'model "{model}" not found, try pulling it first')
        if field_name == "response" and not body.get("prompt") and body.get("keep_alive") == 0:
            self.loaded.discard(model)
            return web.json_response(_final(model, field_name, done_reason="unload"))
        self.loaded.add(model)
        content = reply.content if reply.content is not None else self._default_content(body)
        done_reason = "stop"
        cap = (body.get("options") or {}).get("num_predict")
        if isinstance(cap, int) and cap > 0 and len(content) > cap * CHARS_PER_TOKEN:
            content, done_reason = content[: cap * CHARS_PER_TOKEN], "length"
        if reply.first_token_delay:
            await asyncio.sleep(reply.first_token_delay)
        if body.get("stream", True) is False:
            if reply.whole_body is not None:
                return web.Response(body=reply.whole_body, content_type="application/json")
            final = _final(model, field_name, done_reason=done_reason)
            final[field_name] = _piece(field_name, content)
            return web.json_response(final)
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        chunks = [
            content[i : i + reply.chunk_size] for i in range(0, len(content), reply.chunk_size)
        ]
        held: list[bytes] = []  # lines of a `together` reply
        for number, chunk in enumerate(chunks):
            if reply.pace is not None:
                await reply.pace.acquire()
            if reply.cut_after_chunks is not None and number >= reply.cut_after_chunks:
                assert request.transport is not None
                request.transport.abort()  # the peer sees the stream end mid-body
                return response
            if reply.garbage_line and number == 1:
                await response.write(b"<html>proxy error</html>\n")
            if reply.error_line and number == 1:
                # As Ollama reports a failure once the stream has begun.
                await response.write(json.dumps({"error": reply.error_line}).encode() + b"\n")
                await response.write_eof()
                return response
            line = {
                "model": model,
                "created_at": _now(),
                field_name: _piece(field_name, chunk),
                "done": False,
            }
            if reply.together:
                held.append(json.dumps(line).encode() + b"\n")
                continue
            await response.write(json.dumps(line).encode() + b"\n")
            if reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)
        final_line = _final(model, field_name, done_reason=done_reason)
        await response.write(b"".join(held) + json.dumps(final_line).encode() + b"\n")
        await response.write_eof()
        return response

    def _default_content(self, body: dict[str, Any]) -> str:
        """A reply that follows the requested schema, like a well-behaved model."""
        kind = _kind(body)
        if kind == "segment":
            self.segments_written += 1
            n = self.segments_written
            count = body["format"]["properties"]["choices"].get("minItems", 3)
            last_user = next(
                (m["content"] for m in reversed(body.get("messages", [])) if m["role"] == "user"),
                "",
            )
            value: Any = {
                "narration": f"Part {n}. Mara the wanderer stands at a misty crossroads. "
                f"({last_user[:60]}) The road splits before her.",
                "choices": [f"Path {n}.{i + 1}" for i in range(count)],
                "scene": "a red-haired wanderer at a misty crossroads at dawn",
            }
        elif kind == "memory":
            value = {
                "summary": f"Mara walked through {len(body['messages'])} scenes of mist.",
                "characters": [{"name": "Mara", "looks": "red-haired woman in a green cloak"}],
            }
        elif kind == "prompt":
            value = {"prompt": "a wanderer at a misty crossroads, dawn light, fog"}
        elif kind == "choices":  # new choices for a part (issue 16)
            count = body["format"]["properties"]["choices"].get("minItems", 3)
            value = {"choices": [f"Another path {i + 1}" for i in range(count)]}
        else:
            return "Once upon a time."
        return json.dumps(value, ensure_ascii=False)


def _kind(body: dict[str, Any]) -> str:
    schema = body.get("format")
    props = schema.get("properties", {}) if isinstance(schema, dict) else {}
    for kind, marker in (("segment", "narration"), ("memory", "summary"), ("prompt", "prompt")):
        if marker in props:
            return kind
    return "choices" if list(props) == ["choices"] else "text"


def _piece(field_name: str, text: str) -> Any:
    return {"role": "assistant", "content": text} if field_name == "message" else text


def _final(model: str, field_name: str, done_reason: str = "stop") -> dict[str, Any]:
    return {
        "model": model,
        "created_at": _now(),
        field_name: _piece(field_name, ""),
        "done": True,
        "done_reason": done_reason,
        "total_duration": 1_200_000_000,
        "load_duration": 50_000_000,
        "prompt_eval_count": 120,
        "prompt_eval_duration": 100_000_000,
        "eval_count": 80,
        "eval_duration": 1_000_000_000,
    }


def _model_entry(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "model": name,
        "modified_at": "2026-10-01T12:00:00.000000000Z",
        "size": 4_920_753_328,
        "digest": "a" * 64,
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": "llama",
            "families": ["llama"],
            "parameter_size": "8.0B",
            "quantization_level": "Q4_K_M",
        },
    }


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")
