"""The tiny model's Ollama-compatible endpoint, read by the real ollama client and gateway;
llama.cpp is stood in for by a scripted engine with xllamacpp's chat method."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from storycraft_bot.core.clock import SystemClock
from storycraft_bot.narration.ollama_gateway import OllamaConfig, OllamaGateway
from storycraft_bot.narration.ollama_pool import open_pool
from tests.tiny_ollama import MODEL_NAME, TinyOllama

REPLY = json.dumps({"narration": "You wake.", "choices": ["Go", "Stay"], "scene": "a room"})


class _ScriptedLlama:
    """xllamacpp.Server's `handle_chat_completions` as it answers: OpenAI-style chunks
    through the callback when streaming, one completion otherwise."""

    def __init__(self, content: str, finish_reason: str = "stop") -> None:
        self.content = content
        self.finish_reason = finish_reason
        self.requests: list[dict[str, Any]] = []

    def handle_chat_completions(
        self, request: dict[str, Any], callback: Callable[[dict[str, Any]], bool] | None = None
    ) -> dict[str, Any]:
        self.requests.append(request)
        if callback is None:
            return {
                "choices": [
                    {
                        "finish_reason": self.finish_reason,
                        "message": {"role": "assistant", "content": self.content},
                    }
                ],
                "usage": {"prompt_tokens": 12, "completion_tokens": 7},
            }
        callback({"choices": [{"finish_reason": None, "delta": {"role": "assistant"}}]})
        for start in range(0, len(self.content), 5):
            piece = self.content[start : start + 5]
            if callback({"choices": [{"finish_reason": None, "delta": {"content": piece}}]}):
                break
        callback({"choices": [{"finish_reason": self.finish_reason, "delta": {}}]})
        return {}


@pytest.fixture
async def gateway_on() -> AsyncIterator[Callable[[_ScriptedLlama], Any]]:
    servers: list[TinyOllama] = []
    async with AsyncExitStack() as pools:

        async def start(engine: _ScriptedLlama) -> OllamaGateway:
            server = TinyOllama(engine)
            servers.append(server)
            url = await server.start()
            pool = await pools.enter_async_context(
                open_pool([url], SystemClock(), parallel=1, timeouts=httpx.Timeout(30.0))
            )
            return OllamaGateway(pool, OllamaConfig(model=MODEL_NAME, retries=0))

        yield start
    for server in servers:
        await server.stop()


async def test_a_streamed_reply_arrives_in_pieces_with_its_schema_passed_on(
    gateway_on: Callable[[_ScriptedLlama], Any],
) -> None:
    engine = _ScriptedLlama(REPLY)
    gateway: OllamaGateway = await gateway_on(engine)
    assert await gateway.installed_models() == [MODEL_NAME]
    assert (await gateway.version()).startswith("0.")
    seen: list[str] = []

    async def on_content(text: str) -> None:
        seen.append(text)

    schema = {"type": "object", "properties": {"narration": {"type": "string"}}}
    result = await gateway.chat(
        [{"role": "user", "content": "Begin"}],
        schema=schema,
        on_content=on_content,
        num_predict=321,
    )
    assert result.content == REPLY
    assert not result.truncated
    assert seen[-1] == REPLY
    assert all(REPLY.startswith(text) for text in seen)
    # In pieces on the wire (the gateway shows the pieces that arrive together at once).
    body = {"model": MODEL_NAME, "messages": [{"role": "user", "content": "Begin"}]}
    url = gateway.pool.servers[0].chat_url
    async with httpx.AsyncClient() as http, http.stream("POST", url, json=body) as response:
        lines = [line async for line in response.aiter_lines() if line]
    assert len(lines) > 3
    sent = engine.requests[0]
    assert sent["json_schema"] == schema
    assert sent["max_tokens"] == 321
    assert sent["stream"] is True
    assert sent["messages"] == [{"role": "user", "content": "Begin"}]


async def test_a_whole_reply_cut_at_its_cap_says_length(
    gateway_on: Callable[[_ScriptedLlama], Any],
) -> None:
    engine = _ScriptedLlama('{"summary": "cut', finish_reason="length")
    gateway: OllamaGateway = await gateway_on(engine)
    result = await gateway.chat([{"role": "user", "content": "Sum up"}], num_predict=8)
    assert result.content == '{"summary": "cut'
    assert result.truncated
    assert "json_schema" not in engine.requests[0]


async def test_an_unknown_model_is_not_installed_as_ollama_says_it(
    gateway_on: Callable[[_ScriptedLlama], Any],
) -> None:
    engine = _ScriptedLlama(REPLY)
    gateway: OllamaGateway = await gateway_on(engine)
    # Ollama's 404 wording, so the gateway knows it and falls back to the configured model.
    result = await gateway.chat([{"role": "user", "content": "Hi"}], model="llama3.1:8b")
    assert result.model == MODEL_NAME
    assert len(engine.requests) == 1
