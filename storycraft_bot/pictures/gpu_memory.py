"""GPU memory hand-off for one card shared by Ollama and ComfyUI.

Before a picture: if ComfyUI reports too little free VRAM, unload Ollama's models
(`keep_alive: 0`). Before text: if ComfyUI holds too much, ask it to `/free`. Each
hand-off is logged with the memory figures. With separate GPUs none of this runs.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from storycraft_bot.core.errors import IllustratorError, NarratorError
from storycraft_bot.core.models import Place
from storycraft_bot.pictures.comfyui import ComfyClient
from storycraft_bot.pictures.gpu_queue import JobKind
from storycraft_bot.pictures.gpu_turns import GpuTurns

log = logging.getLogger(__name__)
MIB = 1024 * 1024


class ModelUnloader(Protocol):
    """The Ollama side: which models are loaded, and unloading one."""

    async def loaded_models(self) -> list[str]: ...

    async def unload(self, model: str) -> None: ...


class GpuMemory:
    """Frees the shared card for whichever side needs it next."""

    def __init__(
        self,
        ollama: ModelUnloader,
        servers: Sequence[ComfyClient],
        *,
        picture_min_free: int,
        text_min_free: int,
    ) -> None:
        self._ollama = ollama
        self._servers = servers
        self._picture_min_free = picture_min_free
        self._text_min_free = text_min_free

    async def before_picture(self, server: ComfyClient) -> None:
        """Unload Ollama's models if ComfyUI lacks room for a picture."""
        free = await server.free_vram()
        if free is None or free >= self._picture_min_free:
            return
        try:
            models = await self._ollama.loaded_models()
            for model in models:
                await self._ollama.unload(model)
        except NarratorError as err:
            log.warning("GPU hand-off: could not unload Ollama's models: %s", err)
            return
        after = await server.free_vram()
        log.info(
            "GPU hand-off to pictures: ComfyUI at %s had %d MiB free (< %d MiB); unloaded "
            "Ollama models %s; now %s MiB free",
            server.base_url,
            free // MIB,
            self._picture_min_free // MIB,
            models or "none",
            "?" if after is None else after // MIB,
        )

    async def before_text(self) -> None:
        """Ask ComfyUI to free its memory if text generation lacks room."""
        for server in self._servers:
            try:
                free = await server.free_vram()
                if free is None or free >= self._text_min_free:
                    continue
                await server.free()
                after = await server.free_vram()
            except IllustratorError as err:
                log.debug("GPU hand-off: %s not asked to free memory: %s", server.base_url, err)
                continue
            log.info(
                "GPU hand-off to text: ComfyUI at %s had %d MiB free (< %d MiB); called /free; "
                "now %s MiB free",
                server.base_url,
                free // MIB,
                self._text_min_free // MIB,
                "?" if after is None else after // MIB,
            )


class SharedGpu:
    """One card: text takes a turn in the GPU queue (before pictures) and frees ComfyUI first."""

    def __init__(self, queue: GpuTurns, memory: GpuMemory) -> None:
        self._queue = queue
        self._memory = memory

    def text_turn(
        self, place: Place, session_id: int, job_id: str
    ) -> AbstractAsyncContextManager[object]:
        return self._turn(place, session_id, job_id)

    @asynccontextmanager
    async def _turn(self, place: Place, session_id: int, job_id: str) -> AsyncIterator[object]:
        async with self._queue.turn(JobKind.TEXT, place.guild_id, session_id, job_id) as ticket:
            await self._memory.before_text()
            yield ticket
