"""One ComfyUI server: HTTP through httpx, progress through its WebSocket.

The flow for a picture, as the recorded traces show it: open `/ws?clientId=<ours>`,
`POST /prompt` with our own `prompt_id` and that client id, read frames for our prompt
(`execution_start`, `progress`, ... and last `executing` with `node: null`), confirm the
outcome with `/history/{prompt_id}`, fetch the image from `/view`.

Versions: a client-chosen `prompt_id` needs ComfyUI 0.3.45 (older servers answer with their
own id, and the client would wait for ever), so older servers are refused. `/interrupt` with
a `prompt_id` needs 0.3.57; before that it stops whatever is running, perhaps another
user's picture, so on such servers a cancelled picture is only deleted from the queue.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from storycraft_bot.core.clock import Clock
from storycraft_bot.core.errors import (
    IllustratorUnavailable,
    PromptVanished,
    RenderFailed,
    RenderInterrupted,
    ServerTooOld,
    WorkflowError,
)

log = logging.getLogger(__name__)

OnProgress = Callable[[int], Awaitable[None]]
OnStarted = Callable[[], Awaitable[None]]

_SOCKET_TROUBLE = (ConnectionClosed, InvalidHandshake, OSError, TimeoutError)

Version = tuple[int, ...]
OWN_PROMPT_ID_VERSION: Version = (0, 3, 45)
TARGETED_INTERRUPT_VERSION: Version = (0, 3, 57)


def parse_version(text: object) -> Version | None:
    """(0, 3, 64) from "0.3.64" or "v0.3.64-rc1"; None when there is no version."""
    if not isinstance(text, str):
        return None
    numbers = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if numbers is None:
        return None
    return tuple(int(n) for n in numbers.groups(default="0"))


def _dotted(version: Version) -> str:
    return ".".join(str(n) for n in version)


class Message(enum.StrEnum):
    """The ComfyUI messages we act on: socket frame types and history status messages."""

    EXECUTION_START = "execution_start"
    PROGRESS = "progress"
    EXECUTING = "executing"
    EXECUTION_INTERRUPTED = "execution_interrupted"
    EXECUTION_ERROR = "execution_error"
    STATUS = "status"


@dataclass(frozen=True, slots=True)
class Rendered:
    """A finished picture."""

    data: bytes
    filename: str
    prompt_id: str
    server: str
    seconds: float


class ComfyClient:
    """The HTTP and WebSocket API of one ComfyUI server."""

    def __init__(
        self,
        base_url: str,
        http: httpx.AsyncClient,
        clock: Clock,
        *,
        check_every: float = 60.0,
        reconnects: int = 3,
        retries: int = 2,
        backoff: float = 0.5,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = http
        self._clock = clock  # backoff, the prompt checks and how long a picture took
        self._check_every = check_every
        self._reconnects = reconnects
        self._retries = retries
        self._backoff = backoff
        self.version: Version | None = None  # read by check_version()
        # Prompts ComfyUI holds for every client (running + pending), as last heard.
        self.queue_remaining = 0
        self.queue_heard_at = float("-inf")
        # Our own prompts it holds: a count heard before one of them was sent (and not yet
        # heard again) must not leave it out.
        self._ours: set[str] = set()
        # The one /queue request under way that every waiting picture shares.
        self._queue_asked: asyncio.Task[tuple[list[str], list[str]]] | None = None

    def __repr__(self) -> str:
        return f"ComfyClient({self.base_url})"

    # Plain HTTP calls

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: object = None,
        params: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        form: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        try:
            response = await self._http.request(
                method, self.base_url + path, json=json_body, params=params, files=files, data=form
            )
        except httpx.TransportError as err:
            raise IllustratorUnavailable(
                f"ComfyUI at {self.base_url} does not answer ({type(err).__name__})"
            ) from err
        if response.status_code >= 500:
            raise IllustratorUnavailable(
                f"ComfyUI at {self.base_url} answered {response.status_code}: "
                f"{response.text.strip().splitlines()[0] if response.text.strip() else ''}"
            )
        return response

    async def _json(self, path: str) -> Any:
        response = await self._request("GET", path)
        if response.status_code != 200:
            raise IllustratorUnavailable(
                f"ComfyUI at {self.base_url}: {path} answered {response.status_code}"
            )
        try:
            return response.json()
        except ValueError as err:
            raise IllustratorUnavailable(
                f"ComfyUI at {self.base_url}: {path} sent no JSON"
            ) from err

    async def system_stats(self) -> dict[str, Any]:
        stats = await self._json("/system_stats")
        return stats if isinstance(stats, dict) else {}

    async def check_version(self) -> Version:
        """Read the server's ComfyUI version from /system_stats (once); ServerTooOld when
        it is older than 0.3.45 or does not say (IllustratorUnavailable if unreachable)."""
        if self.version is not None:
            return self.version
        system = (await self.system_stats()).get("system") or {}
        reported = system.get("comfyui_version") if isinstance(system, dict) else None
        version = parse_version(reported)
        if version is None or version < OWN_PROMPT_ID_VERSION:
            shown = f"is version {reported}" if version is not None else "does not report a version"
            raise ServerTooOld(
                f"ComfyUI at {self.base_url} {shown}; StoryCraft needs ComfyUI "
                f"{_dotted(OWN_PROMPT_ID_VERSION)} or newer (update it, or remove it from "
                "COMFYUI_URLS)"
            )
        if version < TARGETED_INTERRUPT_VERSION:
            log.warning(
                "ComfyUI at %s is version %s: a cancelled picture is only deleted from its "
                "queue, never interrupted (stopping only our prompt needs %s)",
                self.base_url,
                _dotted(version),
                _dotted(TARGETED_INTERRUPT_VERSION),
            )
        self.version = version
        return version

    async def free_vram(self) -> int | None:
        """Free memory of the first device, in bytes (None if not reported)."""
        devices = (await self.system_stats()).get("devices") or []
        value = devices[0].get("vram_free") if devices else None
        return int(value) if isinstance(value, int | float) else None

    async def node_info(self, node_type: str) -> dict[str, Any]:
        """`/object_info/{type}`: the node's inputs, or {} when the server lacks it."""
        info = await self._json(f"/object_info/{node_type}")
        entry = info.get(node_type, {}) if isinstance(info, dict) else {}
        return entry if isinstance(entry, dict) else {}

    async def queue_ids(self) -> tuple[list[str], list[str]]:
        """Prompt ids running and pending in ComfyUI's own queue."""
        queue = await self._json("/queue")
        running = [str(item[1]) for item in queue.get("queue_running", [])]
        pending = [str(item[1]) for item in queue.get("queue_pending", [])]
        self._heard_queue(len(running) + len(pending))
        return running, pending

    async def queue_count(self, max_age: float) -> int:
        """Prompts ComfyUI holds, asked again only when not heard for `max_age` seconds.
        Callers at the same moment share one request: hundreds of waiting pictures
        would otherwise each ask at once."""
        if self._clock.now() - self.queue_heard_at <= max_age:
            return max(self.queue_remaining, len(self._ours))
        if self._queue_asked is None or self._queue_asked.done():
            self._queue_asked = asyncio.ensure_future(self.queue_ids())
            # Its failure reaches whoever awaits it; none left is no "never retrieved".
            self._queue_asked.add_done_callback(
                lambda task: None if task.cancelled() else task.exception()
            )
        # Shielded: one caller cancelled (its picture dropped) must not fail the others.
        await asyncio.shield(self._queue_asked)
        return max(self.queue_remaining, len(self._ours))

    def _heard_queue(self, remaining: int) -> None:
        self.queue_remaining = remaining
        self.queue_heard_at = self._clock.now()

    async def history(self, prompt_id: str) -> dict[str, Any] | None:
        """The history entry of a prompt; None while it is unknown or unfinished."""
        entry = (await self._json(f"/history/{prompt_id}")).get(prompt_id)
        return entry if isinstance(entry, dict) else None

    async def interrupt(self, prompt_id: str) -> None:
        """Stop the prompt if it is running (at its next step). Not on servers before
        0.3.57, where /interrupt would stop whatever runs, perhaps another user's prompt."""
        if await self.check_version() < TARGETED_INTERRUPT_VERSION:
            log.info(
                "not interrupting %s on %s (ComfyUI %s stops any running prompt); "
                "it was only deleted from the queue",
                prompt_id,
                self.base_url,
                _dotted(await self.check_version()),
            )
            return
        await self._request("POST", "/interrupt", json_body={"prompt_id": prompt_id})

    async def delete_pending(self, prompt_ids: list[str]) -> None:
        """Remove prompts that have not started from ComfyUI's queue."""
        await self._request("POST", "/queue", json_body={"delete": prompt_ids})

    async def free(self) -> None:
        """Unload ComfyUI's models and free its memory."""
        await self._request("POST", "/free", json_body={"unload_models": True, "free_memory": True})

    async def submit(self, graph: Mapping[str, Any], prompt_id: str, client_id: str) -> None:
        """`POST /prompt`; a 400 becomes WorkflowError with a short reason."""
        response = await self._request(
            "POST",
            "/prompt",
            json_body={"prompt": graph, "client_id": client_id, "prompt_id": prompt_id},
        )
        if response.status_code == 200:
            return
        try:
            body = response.json()
        except ValueError:
            body = {}
        log.error(
            "ComfyUI at %s refused prompt %s: %s", self.base_url, prompt_id, response.text[:2000]
        )
        raise WorkflowError(_validation_reason(body, response.status_code))

    async def view(self, image: Mapping[str, Any]) -> bytes:
        params = {
            "filename": str(image.get("filename", "")),
            "subfolder": str(image.get("subfolder", "")),
            "type": str(image.get("type", "output")),
        }
        response = await self._request("GET", "/view", params=params)
        if response.status_code != 200 or not response.content:
            raise RenderFailed(f"the picture file could not be fetched ({response.status_code})")
        return response.content

    async def upload_image(self, data: bytes, filename: str, subfolder: str) -> str:
        """Put a picture in ComfyUI's input folder (`POST /upload/image`, multipart, as its
        own page does); the value a LoadImage node takes for it ("subfolder/name")."""
        response = await self._request(
            "POST",
            "/upload/image",
            files={"image": (filename, data, "image/png")},
            form={"overwrite": "true", "type": "input", "subfolder": subfolder},
        )
        try:
            stored = response.json() if response.status_code == 200 else None
        except ValueError:
            stored = None
        if not isinstance(stored, dict) or not stored.get("name"):
            raise RenderFailed(f"the reference picture was refused ({response.status_code})")
        folder = str(stored.get("subfolder") or "")
        return f"{folder}/{stored['name']}" if folder else str(stored["name"])

    # A whole picture

    async def draw(
        self,
        graph: Mapping[str, Any],
        prompt_id: str,
        on_progress: OnProgress,
        on_started: OnStarted,
        *,
        attach: bool = False,
    ) -> Rendered:
        """Submit the prompt, follow it to the end, return the image; with `attach`, follow
        a prompt submitted before (by a process that was restarted) instead.

        A dropped socket is reconnected and the job recovered from `/history`; a failed
        submission is re-sent only under the same prompt_id, after checking that ComfyUI
        does not already have it.
        """
        await self.check_version()  # a server that was down at start is checked now
        began = self._clock.now()
        self._ours.add(prompt_id)
        try:
            return await self._draw(graph, prompt_id, on_progress, on_started, attach, began)
        finally:
            self._ours.discard(prompt_id)

    async def _draw(
        self,
        graph: Mapping[str, Any],
        prompt_id: str,
        on_progress: OnProgress,
        on_started: OnStarted,
        submitted: bool,
        began: float,
    ) -> Rendered:
        # ComfyUI sends a prompt's frames to the client that submitted it: the prompt's own
        # id as client id lets a restarted process hear them again.
        client_id = prompt_id
        dropped = 0
        while True:
            try:
                async with connect(
                    self._ws_url(client_id), proxy=None, max_size=None, open_timeout=10
                ) as ws:
                    if not submitted:
                        await self._submit_safely(graph, prompt_id, client_id)
                        submitted = True
                    elif (entry := await self.history(prompt_id)) is not None:
                        return await self._collect(entry, prompt_id, began)
                    entry = await self._follow(ws, prompt_id, on_progress, on_started)
                    if entry is not None:
                        return await self._collect(entry, prompt_id, began)
                break
            except _SOCKET_TROUBLE as err:
                dropped += 1
                if dropped > self._reconnects:
                    raise IllustratorUnavailable(
                        f"ComfyUI at {self.base_url}: its socket keeps failing "
                        f"({type(err).__name__})"
                    ) from err
                log.warning(
                    "ComfyUI socket at %s dropped (%s); reconnecting",
                    self.base_url,
                    type(err).__name__,
                )
                await self._clock.sleep(self._backoff * dropped)
        return await self._collect(await self._finished_entry(prompt_id), prompt_id, began)

    def _ws_url(self, client_id: str) -> str:
        scheme, _, rest = self.base_url.partition("://")
        return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/ws?clientId={client_id}"

    async def _submit_safely(
        self, graph: Mapping[str, Any], prompt_id: str, client_id: str
    ) -> None:
        for attempt in range(self._retries + 1):
            try:
                await self.submit(graph, prompt_id, client_id)
                return
            except IllustratorUnavailable as err:
                if attempt == self._retries:
                    raise
                log.warning(
                    "submitting %s to %s failed (%s); checking before a retry",
                    prompt_id,
                    self.base_url,
                    err,
                )
                await self._clock.sleep(self._backoff * (attempt + 1))
                # The failed try may have got through: never queue one prompt_id twice.
                try:
                    running, pending = await self.queue_ids()
                    if (
                        prompt_id in running
                        or prompt_id in pending
                        or await self.history(prompt_id)
                    ):
                        return
                except IllustratorUnavailable:
                    continue

    async def _follow(
        self, ws: Any, prompt_id: str, on_progress: OnProgress, on_started: OnStarted
    ) -> dict[str, Any] | None:
        """Read frames until ComfyUI says our prompt is done.

        Every `check_every` seconds, frames or not, the prompt's own state is asked for:
        other users' status frames arrive all the time, so neither silence nor traffic
        says anything about ours. Returns its history entry when that check finds it
        finished (its last frames never reached us), None after its last frame.
        """
        next_check = self._clock.now() + self._check_every
        while True:
            message = await self._next_frame(ws, next_check - self._clock.now())
            if message is None:
                entry = await self._settled(prompt_id)
                if entry is not None:
                    return entry
                next_check = self._clock.now() + self._check_every
                continue
            if isinstance(message, bytes):
                continue  # a binary preview frame (event type, image type, JPEG)
            try:
                frame = json.loads(message)
            except ValueError:
                log.warning("ComfyUI at %s sent a frame that is not JSON", self.base_url)
                continue
            kind = frame.get("type")
            data = frame.get("data") or {}
            if kind == Message.STATUS:  # anybody's prompt moved: how many ComfyUI holds
                remaining = ((data.get("status") or {}).get("exec_info") or {}).get(
                    "queue_remaining"
                )
                if isinstance(remaining, int):
                    self._heard_queue(remaining)
                continue
            if data.get("prompt_id") != prompt_id:
                continue
            if kind == Message.EXECUTION_START:
                await on_started()
            elif kind == Message.PROGRESS:
                maximum = max(1, int(data.get("max") or 1))
                await on_progress(min(100, int(100 * int(data.get("value") or 0) / maximum)))
            elif kind == Message.EXECUTING and data.get("node") is None:
                self._heard_queue(max(0, self.queue_remaining - 1))  # ours left the queue
                return None

    async def _next_frame(self, ws: Any, within: float) -> str | bytes | None:
        """The next frame, or None when none came within `within` seconds."""
        if within <= 0:
            return None  # the check is due: a steady stream of frames must not delay it
        receiving = asyncio.ensure_future(ws.recv())
        silence = asyncio.ensure_future(self._clock.sleep(within))
        try:
            done, _ = await asyncio.wait({receiving, silence}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            receiving.cancel()  # websockets' recv() may be cancelled without losing a frame
            silence.cancel()
        if receiving in done:
            frame: str | bytes = receiving.result()
            return frame
        await asyncio.gather(receiving, return_exceptions=True)
        return None

    async def holds(self, prompt_id: str) -> bool:
        """ComfyUI knows the prompt: queued, running or finished (in its history)."""
        running, pending = await self.queue_ids()
        return prompt_id in running or prompt_id in pending or bool(await self.history(prompt_id))

    async def _settled(self, prompt_id: str) -> dict[str, Any] | None:
        """None while the prompt waits or runs; its history entry once it finished;
        PromptVanished when ComfyUI has neither (deleted by someone, or a restart)."""
        # The queue first: a prompt leaves it only after its history entry is written.
        running, pending = await self.queue_ids()
        if prompt_id in running or prompt_id in pending:
            return None
        entry = await self.history(prompt_id)
        if entry is not None:
            return entry
        log.warning(
            "ComfyUI at %s no longer has prompt %s (neither queued nor finished)",
            self.base_url,
            prompt_id,
        )
        raise PromptVanished("the picture was removed from ComfyUI's queue")

    async def _finished_entry(self, prompt_id: str) -> dict[str, Any]:
        for delay in (0.0, 0.1, 0.3, 1.0):
            await self._clock.sleep(delay)
            entry = await self.history(prompt_id)
            if entry is not None:
                return entry
        raise IllustratorUnavailable(f"ComfyUI at {self.base_url} has no history for {prompt_id}")

    async def _collect(self, entry: Mapping[str, Any], prompt_id: str, began: float) -> Rendered:
        status = entry.get("status") or {}
        messages = {
            m[0]: m[1] for m in status.get("messages", []) if isinstance(m, list) and len(m) == 2
        }
        if Message.EXECUTION_INTERRUPTED in messages:
            raise RenderInterrupted("the picture was interrupted")
        if Message.EXECUTION_ERROR in messages or status.get("status_str") == "error":
            error = messages.get(Message.EXECUTION_ERROR, {})
            log.error(
                "ComfyUI at %s: prompt %s failed in %s: %s\n%s",
                self.base_url,
                prompt_id,
                error.get("node_type"),
                error.get("exception_message"),
                "".join(error.get("traceback", [])),
            )
            raise RenderFailed(_execution_reason(error))
        images = [
            image
            for output in (entry.get("outputs") or {}).values()
            for image in output.get("images", [])
        ]
        if not images:
            raise RenderFailed("the workflow produced no image")
        data = await self.view(images[0])
        return Rendered(
            data,
            str(images[0].get("filename")),
            prompt_id,
            self.base_url,
            self._clock.now() - began,
        )


def _validation_reason(body: Mapping[str, Any], status: int) -> str:
    error = body.get("error") if isinstance(body, Mapping) else None
    message = error.get("message") if isinstance(error, Mapping) else None
    details = []
    for node_id, node in (body.get("node_errors") or {}).items():
        for item in node.get("errors", [])[:1]:
            what = item.get("details") or item.get("message")
            details.append(f"node {node_id} ({node.get('class_type')}): {what}")
    reason = message or f"ComfyUI refused the workflow ({status})"
    return f"{reason}: {'; '.join(details)}" if details else str(reason)


def _execution_reason(error: Mapping[str, Any]) -> str:
    node = error.get("node_type") or "a node"
    message = str(error.get("exception_message") or "unknown error").strip().splitlines()
    first = message[0] if message else "unknown error"
    return f"{node} failed: {first[:120]}"
