"""Several ComfyUI servers: each job goes to the least busy healthy one."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from storycraft_bot.core.clock import Clock
from storycraft_bot.pictures.comfyui import ComfyClient

log = logging.getLogger(__name__)


@dataclass(eq=False)
class ComfyServer:
    """One server and what the pool knows of it."""

    client: ComfyClient
    busy: int = 0
    down_until: float = 0.0
    failures: int = 0
    checked: bool = False  # its version and every workflow, once it answered
    cannot_run: dict[str, str] = field(default_factory=dict)  # workflow name -> why not

    def can_run(self, workflow: str) -> bool:
        """False once a check found the workflow unusable there (unchecked: maybe)."""
        return workflow not in self.cannot_run

    @property
    def name(self) -> str:
        return self.client.base_url


class ServerPool:
    """Picks servers; one that stops answering is skipped, then tried again later."""

    def __init__(
        self, clients: Sequence[ComfyClient], clock: Clock, *, recheck_seconds: float = 30.0
    ) -> None:
        if not clients:
            raise ValueError("at least one ComfyUI server is needed")
        self._servers = [ComfyServer(c) for c in clients]
        self._clock = clock
        self._recheck = recheck_seconds

    @property
    def servers(self) -> tuple[ComfyServer, ...]:
        return tuple(self._servers)

    def healthy(self) -> list[ComfyServer]:
        """Servers not marked down (or whose time out is over), least busy first."""
        now = self._clock.now()
        ready = [s for s in self._servers if s.down_until <= now]
        return sorted(ready, key=lambda s: s.busy)  # sorted() is stable: listed order breaks ties

    def acquire(
        self, avoid: ComfyServer | None = None, workflow: str | None = None
    ) -> ComfyServer | None:
        """The least busy healthy server (not `avoid`, able to run `workflow`), now
        counted busy; None if none."""
        for server in self.healthy():
            if server is not avoid and (workflow is None or server.can_run(workflow)):
                server.busy += 1
                return server
        return None

    def acquire_named(self, name: str) -> ComfyServer | None:
        """The server called `name`, now counted busy; None if it is not (or no longer)
        configured, or is down."""
        for server in self.healthy():
            if server.name == name:
                server.busy += 1
                return server
        return None

    def named(self, name: str) -> ComfyServer | None:
        """The configured server called `name`, healthy or not."""
        return next((s for s in self._servers if s.name == name), None)

    def runnable(self, workflow: str) -> bool:
        """Some server can (or, unchecked, may) run the workflow."""
        return any(server.can_run(workflow) for server in self._servers)

    def release(self, server: ComfyServer) -> None:
        server.busy = max(0, server.busy - 1)

    def mark_down(self, server: ComfyServer, reason: str) -> None:
        server.failures += 1
        server.down_until = self._clock.now() + self._recheck
        log.warning(
            "ComfyUI at %s is down (%s); trying it again in %.0fs",
            server.name,
            reason,
            self._recheck,
        )

    def mark_up(self, server: ComfyServer) -> None:
        if server.failures:
            log.info("ComfyUI at %s answers again", server.name)
        server.failures = 0
        server.down_until = 0.0
