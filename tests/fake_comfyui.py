"""A fake ComfyUI 0.3.64 on 127.0.0.1: HTTP and WebSocket, shaped by the recorded traces
in tests/traces/comfyui (copied from ../shared/traces).

It validates prompts the way ComfyUI does (400 with `error` + `node_errors`, 500 text for
malformed JSON), runs them one at a time, sends the execution frames only to the socket
whose clientId sent the prompt, answers identical prompts from cache with the old file,
stops an interrupted prompt at its next step, and serves real PNG bytes from /view.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web
from PIL import Image

TRACES = Path(__file__).resolve().parent / "traces" / "comfyui"
OUTPUT_NODES = {"SaveImage", "PreviewImage"}
TEXT_500 = "500 Internal Server Error\n\nServer got itself in trouble"
GIB = 1024**3


def object_info_entries() -> dict[str, Any]:
    """The /object_info entries recorded from the real server."""
    basics = json.loads((TRACES / "basics.json").read_text())
    loaders = json.loads((TRACES / "loaders.json").read_text())  # written, not recorded
    return {**basics["object_info"]["entries"], **loaders["entries"]}


#: Which input of which loader names a file, and the FakeComfyUI list of those files.
FILE_INPUTS = {
    "CheckpointLoaderSimple": ("ckpt_name", "checkpoints"),
    "LoraLoader": ("lora_name", "loras"),
    "VAELoader": ("vae_name", "vaes"),
}
#: What the recorded server's input folder held (its LoadImage list).
RECORDED_INPUTS = ("example.png", "probe_upload.png")


@dataclass
class Job:
    number: int
    prompt_id: str
    prompt: dict[str, Any]
    client_id: str
    extra: dict[str, Any]


@dataclass
class FakeComfyUI:
    """Start with `await server.start()`. Attributes below script its behaviour."""

    checkpoints: list[str] = field(
        default_factory=lambda: ["junk.safetensors", "random-sd15.safetensors"]
    )
    loras: list[str] = field(default_factory=lambda: ["ink.safetensors"])
    vaes: list[str] = field(default_factory=lambda: ["vae-ft-mse.safetensors"])
    # Every POST /upload/image: its form fields and the stored file's size.
    uploads: list[dict[str, Any]] = field(default_factory=list)
    step_delay: float = 0.0  # seconds per sampler step
    previews: bool = False  # send binary preview frames like --preview-method
    vram_total: int = 8 * GIB
    vram_free: int = 6 * GIB
    fail_prompts: int = 0  # answer this many POST /prompt with 500
    drop_socket_at_step: int | None = None  # close sockets once, at this sampler step
    hold: bool = False  # accept prompts but do not run them (a stuck server)
    # Execution frames reach nobody, as if the client's socket was away while prompts ran.
    unheard: bool = False
    # What /system_stats reports (None: not at all). Like the real servers, before 0.3.45 a
    # client's prompt_id is ignored, and before 0.3.57 /interrupt stops whatever runs.
    version: str | None = "0.3.64"
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    url: str = ""
    history: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending: list[Job] = field(default_factory=list)
    running: Job | None = None
    freed: int = 0
    started: asyncio.Event = field(default_factory=asyncio.Event)  # set when a prompt starts
    received: asyncio.Event = field(default_factory=asyncio.Event)  # set when one is queued
    finished: asyncio.Event = field(default_factory=asyncio.Event)  # set when one ends
    _sockets: dict[str, web.WebSocketResponse] = field(default_factory=dict)
    _entries: dict[str, Any] = field(default_factory=object_info_entries)
    _number: int = 0
    _files: dict[tuple[str, str, str], bytes] = field(default_factory=dict)  # type, folder, name
    _cache: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    _counter: int = 0
    _interrupt: bool = False
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _worker: asyncio.Task[None] | None = None
    _runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/ws", self._ws)
        app.router.add_post("/prompt", self._prompt)
        app.router.add_get("/prompt", self._prompt_status)
        app.router.add_get("/queue", self._queue)
        app.router.add_post("/queue", self._queue_ops)
        app.router.add_get("/history/{prompt_id}", self._history)
        app.router.add_post("/interrupt", self._interrupt_handler)
        app.router.add_post("/free", self._free)
        app.router.add_get("/system_stats", self._system_stats)
        app.router.add_get("/object_info/{node_type}", self._object_info)
        app.router.add_get("/view", self._view)
        app.router.add_post("/upload/image", self._upload_image)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        self._worker = asyncio.create_task(self._work())
        return self.url

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        for ws in list(self._sockets.values()):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def posted_prompts(self) -> list[dict[str, Any]]:
        return [
            body for method, path, body in self.requests if (method, path) == ("POST", "/prompt")
        ]

    def calls(self, method: str, path: str) -> list[Any]:
        return [body for m, p, body in self.requests if (m, p) == (method, path)]

    async def other_users_status(self) -> None:
        """The status frame every socket gets when anybody's prompt moves in the queue."""
        await self._broadcast_status()

    def delete_behind_the_back(self, prompt_id: str) -> None:
        """Another user of the server deletes a queued prompt (`POST /queue` delete)."""
        self.pending = [j for j in self.pending if j.prompt_id != prompt_id]

    def release(self) -> None:
        """Let a held server run its queue."""
        self.hold = False
        self._wake.set()

    # HTTP

    async def _record(self, request: web.Request) -> Any:
        raw = await request.text() if request.can_read_body else ""
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw
        if body is None and request.query:
            body = dict(request.query)  # a GET's parameters, e.g. /view's type
        self.requests.append((request.method, request.path, body))
        return body

    async def _prompt(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        if self.fail_prompts > 0:
            self.fail_prompts -= 1
            return web.Response(status=500, text=TEXT_500)
        if not isinstance(body, dict):
            return web.Response(status=500, text=TEXT_500)
        prompt = body.get("prompt")
        if not isinstance(prompt, dict):
            return _validation(400, "no_prompt", "No prompt provided", "No prompt provided")
        problem = self._validate(prompt)
        if problem is not None:
            return problem
        self._number += 1
        prompt_id = str(body.get("prompt_id") or uuid.uuid4())
        if self._older_than((0, 3, 45)):
            prompt_id = str(uuid.uuid4())
        extra = dict(body.get("extra_data") or {})
        extra["client_id"] = str(body.get("client_id", ""))
        self.pending.append(Job(self._number, prompt_id, prompt, extra["client_id"], extra))
        await self._broadcast_status()
        self.received.set()
        self._wake.set()
        return _json({"prompt_id": prompt_id, "number": self._number, "node_errors": {}})

    def _validate(self, prompt: dict[str, Any]) -> web.Response | None:
        for node_id, node in prompt.items():
            if node.get("class_type") not in self._entries:
                return _validation(
                    400,
                    "invalid_prompt",
                    f"Cannot execute because node {node.get('class_type')} does not exist.",
                    f"Node ID '#{node_id}'",
                )
        if not any(n["class_type"] in OUTPUT_NODES for n in prompt.values()):
            return _validation(400, "prompt_no_outputs", "Prompt has no outputs", "")
        node_errors = {}
        for node_id, node in prompt.items():
            error = self._node_error(node)
            if error is not None:
                node_errors[node_id] = {
                    "errors": [error],
                    "dependent_outputs": [
                        i for i, n in prompt.items() if n["class_type"] in OUTPUT_NODES
                    ],
                    "class_type": node["class_type"],
                }
        if node_errors:
            response = _validation(
                400, "prompt_outputs_failed_validation", "Prompt outputs failed validation", ""
            )
            body = json.loads(response.text or "{}")
            body["node_errors"] = node_errors
            return _json(body, status=400)
        return None

    def _node_error(self, node: dict[str, Any]) -> dict[str, Any] | None:
        """A loader's file not in its list (value_not_in_list), or a LoadImage of a file the
        input folder lacks (LoadImage.VALIDATE_INPUTS: "Invalid image file")."""
        kind = node["class_type"]
        if kind in FILE_INPUTS:
            input_name, attribute = FILE_INPUTS[kind]
            files = getattr(self, attribute)
            wanted = node["inputs"].get(input_name)
            if wanted not in files:
                return {
                    "type": "value_not_in_list",
                    "message": "Value not in list",
                    "details": f"{input_name}: '{wanted}' not in {files!r}",
                    "extra_info": {"input_name": input_name, "received_value": wanted},
                }
        if kind == "LoadImage":
            image = str(node["inputs"].get("image"))
            if image not in self.input_images():
                return {
                    "type": "custom_validation_failed",
                    "message": "Custom validation failed for node",
                    "details": f"image - Invalid image file: {image}",
                    "extra_info": {"input_name": "image"},
                }
        return None

    def input_images(self) -> list[str]:
        """What LoadImage may load: the recorded input folder and every upload."""
        uploaded = [
            f"{folder}/{name}" if folder else name
            for (kind, folder, name) in self._files
            if kind == "input"
        ]
        return [*RECORDED_INPUTS, *uploaded]

    async def _upload_image(self, request: web.Request) -> web.Response:
        """ComfyUI's POST /upload/image: multipart `image` (+ `overwrite`, `type`,
        `subfolder`); an existing name without overwrite gets " (1)" added, as there."""
        form = await request.post()
        image = form.get("image")
        if not isinstance(image, web.FileField):
            self.requests.append((request.method, request.path, None))
            return web.Response(status=400)
        data = image.file.read()
        kind = str(form.get("type") or "input")
        folder = str(form.get("subfolder") or "")
        name = image.filename
        if ".." in folder or ".." in name or "/" in name:
            return web.Response(status=400)
        overwrite = str(form.get("overwrite", "")).lower() in ("true", "1")
        stem, dot, suffix = name.rpartition(".")
        number = 1
        while (kind, folder, name) in self._files and not overwrite:
            name = f"{stem} ({number}){dot}{suffix}"
            number += 1
        self._files[(kind, folder, name)] = data
        fields = {"filename": image.filename, "type": kind, "subfolder": folder}
        self.uploads.append({**fields, "overwrite": overwrite, "size": len(data), "name": name})
        self.requests.append((request.method, request.path, fields))
        return _json({"name": name, "subfolder": folder, "type": kind})

    async def _prompt_status(self, request: web.Request) -> web.Response:
        await self._record(request)
        return _json({"exec_info": {"queue_remaining": self._remaining()}})

    async def _queue(self, request: web.Request) -> web.Response:
        await self._record(request)

        def item(job: Job) -> list[Any]:
            outputs = [i for i, n in job.prompt.items() if n["class_type"] in OUTPUT_NODES]
            return [job.number, job.prompt_id, job.prompt, job.extra, outputs]

        running = [item(self.running)] if self.running else []
        return _json({"queue_running": running, "queue_pending": [item(j) for j in self.pending]})

    async def _queue_ops(self, request: web.Request) -> web.Response:
        body = await self._record(request) or {}
        if body.get("clear"):
            self.pending.clear()
        doomed = set(body.get("delete", []))
        self.pending = [j for j in self.pending if j.prompt_id not in doomed]
        return web.Response(status=200)

    async def _history(self, request: web.Request) -> web.Response:
        await self._record(request)
        prompt_id = request.match_info["prompt_id"]
        entry = self.history.get(prompt_id)
        return _json({prompt_id: entry} if entry else {})

    async def _interrupt_handler(self, request: web.Request) -> web.Response:
        body = await self._record(request) or {}
        wanted = body.get("prompt_id") if isinstance(body, dict) else None
        if self._older_than((0, 3, 57)):
            wanted = None
        if self.running is not None and (wanted is None or wanted == self.running.prompt_id):
            self._interrupt = True
        return web.Response(status=200)

    async def _free(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        if not isinstance(body, dict):
            return web.Response(status=500, text=TEXT_500)
        if body.get("unload_models") or body.get("free_memory"):
            self.freed += 1
            self.vram_free = self.vram_total
        return web.Response(status=200)

    def _older_than(self, version: tuple[int, ...]) -> bool:
        if self.version is None:
            return True
        return tuple(int(part) for part in self.version.split(".")) < version

    async def _system_stats(self, request: web.Request) -> web.Response:
        await self._record(request)
        return _json(
            {
                "system": {"os": "posix", "python_version": "3.11.7"}
                | ({"comfyui_version": self.version} if self.version is not None else {}),
                "devices": [
                    {
                        "name": "cuda:0 NVIDIA GeForce RTX 3060 : cudaMallocAsync",
                        "type": "cuda",
                        "index": 0,
                        "vram_total": self.vram_total,
                        "vram_free": self.vram_free,
                        "torch_vram_total": self.vram_total,
                        "torch_vram_free": self.vram_free,
                    }
                ],
            }
        )

    async def _object_info(self, request: web.Request) -> web.Response:
        await self._record(request)
        node_type = request.match_info["node_type"]
        entry = self._entries.get(node_type)
        if entry is None:
            return _json({})
        entry = json.loads(json.dumps(entry))
        if node_type in FILE_INPUTS:
            input_name, attribute = FILE_INPUTS[node_type]
            entry["input"]["required"][input_name][0] = list(getattr(self, attribute))
        if node_type == "LoadImage":
            entry["input"]["required"]["image"][0] = self.input_images()
        return _json({node_type: entry})

    async def _view(self, request: web.Request) -> web.Response:
        await self._record(request)
        filename = request.query.get("filename", "")
        if ".." in filename or "/" in filename:
            return web.Response(status=400)
        kind = request.query.get("type", "output")
        data = self._files.get((kind, request.query.get("subfolder", ""), filename))
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="image/png")

    # WebSocket

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        client_id = request.query.get("clientId") or uuid.uuid4().hex
        self._sockets[client_id] = ws
        await ws.send_json(
            {
                "type": "status",
                "data": {
                    "status": {"exec_info": {"queue_remaining": self._remaining()}},
                    "sid": client_id,
                },
            }
        )
        async for message in ws:
            if message.type == WSMsgType.ERROR:
                break
        if self._sockets.get(client_id) is ws:
            del self._sockets[client_id]
        return ws

    async def _send(self, client_id: str, kind: str, data: dict[str, Any]) -> None:
        ws = self._sockets.get(client_id)
        if ws is not None and not ws.closed:
            with contextlib.suppress(ConnectionError):
                await ws.send_json({"type": kind, "data": data})

    async def _broadcast_status(self) -> None:
        for client_id in list(self._sockets):
            await self._send(
                client_id,
                "status",
                {"status": {"exec_info": {"queue_remaining": self._remaining()}}},
            )

    def _remaining(self) -> int:
        return len(self.pending) + (1 if self.running else 0)

    # Execution

    async def _work(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.pending and not self.hold:
                self.running = self.pending.pop(0)
                self.started.set()
                try:
                    await self._execute(self.running)
                finally:
                    self.running = None
                    self._interrupt = False
                    await self._broadcast_status()

    async def _execute(self, job: Job) -> None:
        pid, cid, prompt = job.prompt_id, job.client_id, job.prompt
        messages: list[list[Any]] = []

        async def event(kind: str, data: dict[str, Any], *, record: bool = False) -> None:
            data = {**data, "prompt_id": pid}
            if record:
                messages.append([kind, data])
            if not self.unheard:
                await self._send(cid, kind, data)

        now = _ms()
        await event("execution_start", {"timestamp": now}, record=True)
        key = json.dumps(prompt, sort_keys=True)
        cached = self._cache.get(key)
        await event(
            "execution_cached",
            {"nodes": list(prompt) if cached else [], "timestamp": _ms()},
            record=True,
        )
        outputs: dict[str, Any] = {}
        if cached is None:
            order = _topological(prompt)
            for node_id in order:
                node = prompt[node_id]
                await event("executing", {"node": node_id, "display_node": node_id})
                if (
                    node["class_type"] == "CheckpointLoaderSimple"
                    and node["inputs"]["ckpt_name"] == "junk.safetensors"
                ):
                    error = {
                        "node_id": node_id,
                        "node_type": "CheckpointLoaderSimple",
                        "executed": [],
                        "exception_message": "Error while deserializing header: header too small\n",
                        "exception_type": "safetensors._safetensors_rust.SafetensorError",
                        "traceback": ['  File "/opt/ComfyUI/execution.py", line 496, in execute\n'],
                        "current_inputs": {},
                        "current_outputs": {},
                        "timestamp": _ms(),
                    }
                    await event("execution_error", error, record=True)
                    return await self._finish(job, "error", False, messages, {})
                if node["class_type"] == "KSampler":
                    steps = int(node["inputs"].get("steps", 1))
                    for step in range(1, steps + 1):
                        if self._interrupt:
                            await event(
                                "execution_interrupted",
                                {
                                    "node_id": node_id,
                                    "node_type": "KSampler",
                                    "executed": [],
                                    "timestamp": _ms(),
                                },
                                record=True,
                            )
                            return await self._finish(job, "error", False, messages, {})
                        await asyncio.sleep(self.step_delay)
                        await event(
                            "progress_state",
                            {
                                "nodes": {
                                    node_id: {
                                        "value": step,
                                        "max": steps,
                                        "state": "running",
                                        "node_id": node_id,
                                    }
                                }
                            },
                        )
                        await event("progress", {"value": step, "max": steps, "node": node_id})
                        if self.previews:
                            ws = self._sockets.get(cid)
                            if ws is not None and not ws.closed:
                                await ws.send_bytes(
                                    (1).to_bytes(4, "big") + (1).to_bytes(4, "big") + _jpeg()
                                )
                        if self.drop_socket_at_step == step:
                            self.drop_socket_at_step = None
                            for ws in list(self._sockets.values()):
                                await ws.close()
                if node["class_type"] in OUTPUT_NODES:
                    image = self._save(prompt, node)
                    outputs[node_id] = {"images": [image]}
                    await event(
                        "executed",
                        {"node": node_id, "display_node": node_id, "output": outputs[node_id]},
                    )
            self._cache[key] = [img for out in outputs.values() for img in out["images"]]
        else:
            for node_id, node in prompt.items():
                if node["class_type"] in OUTPUT_NODES:
                    outputs[node_id] = {"images": cached}
                    await event(
                        "executed",
                        {"node": node_id, "display_node": node_id, "output": outputs[node_id]},
                    )
        await event("execution_success", {"timestamp": _ms()}, record=True)
        await self._finish(job, "success", True, messages, outputs)
        return None

    async def _finish(
        self,
        job: Job,
        status: str,
        completed: bool,
        messages: list[list[Any]],
        outputs: dict[str, Any],
    ) -> None:
        self.history[job.prompt_id] = {
            "prompt": [
                job.number,
                job.prompt_id,
                job.prompt,
                job.extra,
                [i for i, n in job.prompt.items() if n["class_type"] in OUTPUT_NODES],
            ],
            "outputs": outputs,
            "status": {"status_str": status, "completed": completed, "messages": messages},
            "meta": {},
        }
        self.running = None
        self.finished.set()
        await self._broadcast_status()
        if not self.unheard:
            await self._send(job.client_id, "executing", {"node": None, "prompt_id": job.prompt_id})

    def output_files(self) -> list[str]:
        """What stays in ComfyUI's output folder (temp files go when ComfyUI restarts)."""
        return [name for kind, _, name in self._files if kind == "output"]

    def _save(self, prompt: dict[str, Any], node: dict[str, Any]) -> dict[str, str]:
        """SaveImage writes to the output folder; PreviewImage, like ComfyUI's, to the temp
        folder under a random prefix."""
        self._counter += 1
        if node["class_type"] == "PreviewImage":
            kind, prefix = "temp", f"ComfyUI_temp_{uuid.uuid4().hex[:5]}"
        else:
            kind, prefix = "output", str(node["inputs"].get("filename_prefix", "ComfyUI"))
        subfolder, _, stem = prefix.rpartition("/")
        filename = f"{stem}_{self._counter:05d}_.png"
        width = height = 64
        seed = 0
        for other in prompt.values():
            if other["class_type"] == "EmptyLatentImage":
                width, height = int(other["inputs"]["width"]), int(other["inputs"]["height"])
            if other["class_type"] == "KSampler":
                seed = int(other["inputs"].get("seed", 0))
        colour = (seed * 37 % 256, seed * 91 % 256, seed * 53 % 256)
        buffer = io.BytesIO()
        Image.new("RGB", (min(width, 256), min(height, 256)), colour).save(buffer, "PNG")
        self._files[(kind, subfolder, filename)] = buffer.getvalue()
        return {"filename": filename, "subfolder": subfolder, "type": kind}


def _topological(prompt: dict[str, Any]) -> list[str]:
    done: list[str] = []

    def visit(node_id: str) -> None:
        if node_id in done:
            return
        for value in prompt[node_id]["inputs"].values():
            if isinstance(value, list) and len(value) == 2 and str(value[0]) in prompt:
                visit(str(value[0]))
        done.append(node_id)

    for node_id in prompt:
        visit(node_id)
    return done


def _validation(status: int, kind: str, message: str, details: str) -> web.Response:
    return _json(
        {
            "error": {"type": kind, "message": message, "details": details, "extra_info": {}},
            "node_errors": {},
        },
        status=status,
    )


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/json", charset="utf-8"
    )


def _ms() -> int:
    return int(time.time() * 1000)


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(buffer, "JPEG")
    return buffer.getvalue()
