"""/healthz's checks: the database, Ollama and ComfyUI reachable, each platform connected.

Each check is a small coroutine answering None (fine) or a short reason; they run at
once, each within a time limit, so a server that hangs makes the answer 503, never slow.
The composition root builds them from the parts it already holds (probes below).
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from storycraft_bot.core.errors import StoryCraftError
from storycraft_bot.core.store import StoryStore
from storycraft_bot.narration.ollama_gateway import OllamaGateway
from storycraft_bot.pictures.comfyui import ComfyClient

log = logging.getLogger(__name__)

#: None when healthy, else why not (one line, no secrets).
Check = Callable[[], Awaitable[str | None]]
CHECK_SECONDS = 3.0


class Part(enum.StrEnum):
    """What /healthz looks at (the keys of its `checks`)."""

    DATABASE = "database"
    OLLAMA = "ollama"
    COMFYUI = "comfyui"
    DISCORD = "discord"
    TELEGRAM = "telegram"
    WEB = "web"


@dataclass(frozen=True, slots=True)
class Probe:
    part: Part
    check: Check


@dataclass(frozen=True, slots=True)
class Health:
    """One answer of /healthz."""

    reasons: dict[Part, str | None]

    @property
    def healthy(self) -> bool:
        return all(reason is None for reason in self.reasons.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.healthy else "unhealthy",
            "checks": {
                part.value: {"ok": reason is None, **({"reason": reason} if reason else {})}
                for part, reason in self.reasons.items()
            },
        }


async def check_health(probes: Sequence[Probe], limit: float = CHECK_SECONDS) -> Health:
    """Every probe at once; a failure is logged once per answer."""
    reasons = await asyncio.gather(*(_run(probe, limit) for probe in probes))
    health = Health({probe.part: reason for probe, reason in zip(probes, reasons, strict=True)})
    for part, reason in health.reasons.items():
        if reason is not None:
            log.warning("healthz: %s is unhealthy: %s", part.value, reason)
    return health


async def _run(probe: Probe, limit: float) -> str | None:
    try:
        async with asyncio.timeout(limit):
            return await probe.check()
    except TimeoutError:
        return f"no answer within {limit:g}s"
    except Exception as err:  # a check must answer, whatever its dependency does
        return _describe(err)


def _describe(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


# The probes bot.py builds


def database_probe(store: StoryStore) -> Probe:
    """A cheap query: the database answers (and its connection is open)."""

    async def check() -> str | None:
        await store.get_session(0)
        return None

    return Probe(Part.DATABASE, check)


def ollama_probe(gateway: OllamaGateway) -> Probe:
    """The start-up check's /api/version: some Ollama server answers."""

    async def check() -> str | None:
        try:
            await gateway.version()
        except StoryCraftError as err:
            return str(err)
        return None

    return Probe(Part.OLLAMA, check)


def comfyui_probe(clients: Sequence[ComfyClient]) -> Probe:
    """/system_stats of every configured ComfyUI server: one answering is enough (the
    pool sends pictures to those that do), the reason names those that do not."""

    async def one(client: ComfyClient) -> str | None:
        try:
            await client.system_stats()
        except StoryCraftError as err:
            return str(err)
        return None

    async def check() -> str | None:
        reasons = await asyncio.gather(*map(one, clients))
        return "; ".join(r for r in reasons if r) if all(reasons) else None

    return Probe(Part.COMFYUI, check)


def platform_probe(part: Part, connected: Callable[[], bool], what: str) -> Probe:
    """A platform adapter's own word on its connection; `what` says what is missing."""

    async def check() -> str | None:
        return None if connected() else what

    return Probe(part, check)
