"""The gateway against the fake Ollama: streaming, retries, fallback, timeouts, outages."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from storycraft_bot.core.errors import (
    ModelNotInstalled,
    NarratorError,
    NarratorTimeout,
    NarratorUnavailable,
)
from storycraft_bot.narration.ollama_gateway import OllamaGateway
from storycraft_bot.narration.ollama_pool import ServerDown
from tests.conftest import GatewayFactory
from tests.fake_ollama import CHARS_PER_TOKEN, FakeOllama, Reply
from tests.fakes import FakeClock

HELLO = [{"role": "user", "content": "hello"}]


async def test_streams_a_reply_and_reports_the_text_as_it_grows(
    gateway: OllamaGateway, fake_ollama: FakeOllama
) -> None:
    pace = asyncio.Semaphore(0)
    fake_ollama.then(
        Reply(content="The quick brown fox jumps over the lazy dog.", chunk_size=8, pace=pace)
    )
    seen: list[str] = []
    grew = asyncio.Event()

    async def on_content(text: str) -> None:
        seen.append(text)
        grew.set()

    reply = asyncio.create_task(gateway.chat(HELLO, on_content=on_content))
    for _ in range(6):  # one chunk at a time: each is shown before the next is written
        grew.clear()
        pace.release()
        await asyncio.wait_for(grew.wait(), 5)
    pace.release()  # the closing line
    result = await reply

    assert result.content == "The quick brown fox jumps over the lazy dog."
    assert result.model == "llama3.1:8b"
    assert seen[0] == "The quic"
    assert seen[-1] == result.content
    assert len(seen) == 6


async def test_lines_that_arrive_together_are_shown_once(
    gateway: OllamaGateway, fake_ollama: FakeOllama
) -> None:
    fake_ollama.then(Reply(content="ab" * 200, chunk_size=1, together=True))
    seen = Seen()

    result = await gateway.chat(HELLO, on_content=seen)

    assert result.content == "ab" * 200
    assert seen.texts[-1] == result.content
    assert len(seen.texts) < 400  # one report a read, not one a line


async def test_an_error_line_midway_is_an_outage(
    make_gateway: GatewayFactory, fake_ollama: FakeOllama
) -> None:
    gateway = await make_gateway(retries=0)
    fake_ollama.then(Reply(content="a" * 64, error_line="model runner crashed"))

    with pytest.raises(NarratorUnavailable, match="model runner crashed"):
        await gateway.chat(HELLO, on_content=Seen())


async def test_sends_schema_options_and_keep_alive(
    make_gateway: GatewayFactory, fake_ollama: FakeOllama
) -> None:
    gateway = await make_gateway(options={"temperature": 0.3, "num_ctx": 4096}, keep_alive="5m")
    schema = {"type": "object", "properties": {"prompt": {"type": "string"}}}

    await gateway.chat(HELLO, schema=schema)

    sent = fake_ollama.requests[-1]
    assert sent["format"] == schema
    assert sent["options"] == {"temperature": 0.3, "num_ctx": 4096}
    assert sent["keep_alive"] == "5m"
    assert sent["stream"] is False  # nobody watches it being written: one whole reply


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_are_retried(
    gateway: OllamaGateway, fake_ollama: FakeOllama, status: int
) -> None:
    fake_ollama.then(Reply(status=status, error="server busy"), Reply(content="fine"))

    result = await gateway.chat(HELLO)

    assert result.content == "fine"
    assert len(fake_ollama.requests) == 2


async def test_gives_up_after_the_configured_retries(
    gateway: OllamaGateway, fake_ollama: FakeOllama
) -> None:
    fake_ollama.then(*[Reply(status=503, error="queue full")] * 3)

    with pytest.raises(NarratorUnavailable, match="503"):
        await gateway.chat(HELLO)
    assert len(fake_ollama.requests) == 3  # the first try and two retries


async def test_a_client_error_is_not_retried(
    gateway: OllamaGateway, fake_ollama: FakeOllama
) -> None:
    fake_ollama.then(Reply(status=400, error="invalid format"))

    with pytest.raises(Exception, match="invalid format") as caught:
        await gateway.chat(HELLO)
    assert not isinstance(caught.value, NarratorUnavailable)
    assert len(fake_ollama.requests) == 1


async def test_a_missing_model_switches_to_the_fallback_for_good(
    gateway: OllamaGateway, fake_ollama: FakeOllama, caplog: pytest.LogCaptureFixture
) -> None:
    fake_ollama.models = ["qwen2.5:3b"]

    first = await gateway.chat(HELLO)
    second = await gateway.chat(HELLO)

    assert first.model == second.model == "qwen2.5:3b"
    assert [r["model"] for r in fake_ollama.requests] == ["llama3.1:8b", "qwen2.5:3b", "qwen2.5:3b"]
    assert "model llama3.1:8b is not installed; switching to qwen2.5:3b" in caplog.text


async def test_no_model_at_all_names_the_pull_command(
    gateway: OllamaGateway, fake_ollama: FakeOllama
) -> None:
    fake_ollama.models = []

    with pytest.raises(ModelNotInstalled, match=r"run `ollama pull qwen2.5:3b`"):
        await gateway.chat(HELLO)


class Seen:
    """An `on_content` that records the text and lets a test wait for the n-th piece."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self._changed = asyncio.Condition()

    async def __call__(self, text: str) -> None:
        self.texts.append(text)
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(5), self._changed:
            await self._changed.wait_for(lambda: len(self.texts) >= count)

    async def wait_for_text(self, text: str) -> None:
        """Until `text` is shown (lines that arrive together are shown once)."""
        async with asyncio.timeout(5), self._changed:
            await self._changed.wait_for(lambda: text in self.texts)


async def test_a_slow_first_token_times_out(
    make_gateway: GatewayFactory, fake_ollama: FakeOllama
) -> None:
    clock = FakeClock()
    gateway = await make_gateway(clock=clock, first_token_timeout=60, retries=0)
    fake_ollama.then(Reply(content="late", pace=asyncio.Semaphore(0)))
    reply = asyncio.create_task(gateway.chat(HELLO, on_content=Seen()))
    await fake_ollama.wait_until(lambda: fake_ollama.requests)

    await clock.advance(59)
    assert not reply.done()
    await clock.advance(2)

    with pytest.raises(NarratorTimeout, match=r"no first token from llama3\.1:8b in 60s"):
        await reply


async def test_slow_tokens_that_keep_coming_outlast_any_total(
    make_gateway: GatewayFactory, fake_ollama: FakeOllama
) -> None:
    """A CPU model at one chunk every 50 s: 10 minutes for the reply, never a stall."""
    clock = FakeClock()
    gateway = await make_gateway(clock=clock, first_token_timeout=60, token_timeout=60)
    pace = asyncio.Semaphore(0)
    fake_ollama.then(Reply(content="slow but steady " * 6, chunk_size=8, pace=pace))
    seen = Seen()
    reply = asyncio.create_task(gateway.chat(HELLO, on_content=seen))
    await fake_ollama.wait_until(lambda: fake_ollama.requests)
    for chunk in range(12):
        await clock.advance(50)
        pace.release()
        await seen.wait_for(chunk + 1)

    result = await reply
    assert result.content == "slow but steady " * 6
    assert clock.now() - FakeClock().now() == 600  # far past the old 300 s total


async def test_a_stall_between_tokens_times_out(
    make_gateway: GatewayFactory, fake_ollama: FakeOllama
) -> None:
    clock = FakeClock()
    gateway = await make_gateway(clock=clock, token_timeout=30, retries=0)
    pace = asyncio.Semaphore(2)  # two chunks, then nothing
    fake_ollama.then(Reply(content="x" * 64, chunk_size=8, pace=pace))
    seen = Seen()
    reply = asyncio.create_task(gateway.chat(HELLO, on_content=seen))
    await seen.wait_for_text("x" * 16)
    await clock.advance(29)
    assert not reply.done()
    await clock.advance(2)

    with pytest.raises(NarratorTimeout, match=r"no token from llama3\.1:8b for 30s"):
        await reply


async def test_retry_waits_on_the_injected_clock(
    make_gateway: GatewayFactory, fake_ollama: FakeOllama
) -> None:
    clock = FakeClock()
    gateway = await make_gateway(clock=clock, backoff_base=4.0, backoff_max=4.0)
    fake_ollama.then(Reply(status=503, error="queue full"), Reply(content="fine"))
    reply = asyncio.create_task(gateway.chat(HELLO))
    await fake_ollama.wait_until(lambda: fake_ollama.requests)
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(fake_ollama.requests) == 1  # asleep until the clock moves

    await clock.advance(4.0)  # the jittered delay is within [2, 4]

    assert (await reply).content == "fine"
    assert len(fake_ollama.requests) == 2


async def test_a_reply_cut_at_num_predict_says_so(
    gateway: OllamaGateway, fake_ollama: FakeOllama
) -> None:
    fake_ollama.then(Reply(content="y" * 400))

    result = await gateway.chat(HELLO, num_predict=20)

    assert result.truncated
    assert result.content == "y" * 20 * CHARS_PER_TOKEN
    assert fake_ollama.requests[-1]["options"]["num_predict"] == 20


async def test_num_predict_stays_under_the_configured_ceiling(
    make_gateway: GatewayFactory, fake_ollama: FakeOllama
) -> None:
    gateway = await make_gateway(options={"num_predict": 300})

    result = await gateway.chat(HELLO, num_predict=900)

    assert not result.truncated
    assert fake_ollama.requests[-1]["options"]["num_predict"] == 300


async def test_a_stream_cut_midway_is_retried_from_the_start(
    gateway: OllamaGateway, fake_ollama: FakeOllama
) -> None:
    fake_ollama.then(Reply(content="a" * 64, cut_after_chunks=2), Reply(content="whole"))

    result = await gateway.chat(HELLO, on_content=Seen())

    assert result.content == "whole"


async def test_a_garbled_line_in_the_stream_is_an_outage_not_a_crash(
    make_gateway: GatewayFactory, fake_ollama: FakeOllama
) -> None:
    gateway = await make_gateway(retries=0)
    fake_ollama.then(Reply(content="a" * 64, garbage_line=True))

    with pytest.raises(NarratorUnavailable, match="garbled"):
        await gateway.chat(HELLO, on_content=Seen())


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>502 Bad Gateway</html>", "garbled"),
        (b'{"model": "llama3.1:8b", "message": {"role": "assistant"}, "done": true}', "garbled"),
        (b'{"model": "llama3.1:8b", "message": {"content": "a"}, "done": false}', "ended"),
    ],
)
async def test_a_whole_reply_that_is_not_ollamas_is_an_outage_not_a_crash(
    make_gateway: GatewayFactory, fake_ollama: FakeOllama, body: bytes, reason: str
) -> None:
    """An image prompt's or a memory's one JSON reply, read without the official client."""
    gateway = await make_gateway(retries=1)
    fake_ollama.then(Reply(whole_body=body), Reply(content="fine"))
    assert (await gateway.chat(HELLO)).content == "fine"  # retried, as an outage is

    fake_ollama.then(Reply(whole_body=body), Reply(whole_body=body))
    with pytest.raises(NarratorUnavailable, match=reason):
        await gateway.chat(HELLO)


async def test_an_unreachable_server_is_unavailable(make_gateway: GatewayFactory) -> None:
    with socket.socket() as probe:  # a port that nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gateway = await make_gateway(url=f"http://127.0.0.1:{port}", retries=1)

    with pytest.raises(NarratorUnavailable, match="cannot talk to Ollama"):
        await gateway.chat(HELLO)
    with pytest.raises(NarratorUnavailable, match="not reachable"):
        await gateway.version()


async def test_health_calls(gateway: OllamaGateway, fake_ollama: FakeOllama) -> None:
    assert await gateway.version() == "0.12.6"
    assert await gateway.installed_models() == ["llama3.1:8b", "qwen2.5:3b"]


async def test_unload_sends_keep_alive_zero(
    gateway: OllamaGateway, fake_ollama: FakeOllama
) -> None:
    await gateway.chat(HELLO)
    assert "llama3.1:8b" in fake_ollama.loaded

    await gateway.unload("llama3.1:8b")

    assert fake_ollama.requests[-1]["keep_alive"] == 0
    assert fake_ollama.requests[-1]["_path"] == "/api/generate"
    assert "llama3.1:8b" not in fake_ollama.loaded
    assert json.dumps(fake_ollama.requests[-1]["prompt"]) == '""'


async def test_a_streamed_reply_maps_http_errors_like_a_whole_one(
    gateway: OllamaGateway, fake_ollama: FakeOllama
) -> None:
    """The story stream has its own client (aiohttp): the same errors, the same classes."""
    fake_ollama.then(Reply(status=503, error="queue full"), Reply(content="fine"))
    assert (await gateway.chat(HELLO, on_content=Seen())).content == "fine"

    fake_ollama.then(Reply(status=400, error="invalid format"))
    with pytest.raises(NarratorError, match=r"refused the request \(400\): invalid format"):
        await gateway.chat(HELLO, on_content=Seen())
    assert len(fake_ollama.requests) == 3  # the 400 was not retried

    fake_ollama.then(Reply(status=404, error="model 'llama3.1:8b' not found"), Reply(content="b"))
    assert (await gateway.chat(HELLO, on_content=Seen())).model == "qwen2.5:3b"


async def test_a_streamed_reply_to_an_unreachable_server_is_unavailable(
    make_gateway: GatewayFactory,
) -> None:
    with socket.socket() as probe:  # a port that nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gateway = await make_gateway(url=f"http://127.0.0.1:{port}", retries=0)

    with pytest.raises(ServerDown, match=f"cannot talk to Ollama at http://127.0.0.1:{port}"):
        await gateway.chat(HELLO, on_content=Seen())
    assert not gateway.pool.healthy()  # skipped until it is tried again
