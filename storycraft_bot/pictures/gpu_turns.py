"""What the illustrator and text on a shared GPU need of a queue for GPU turns: this
process's `GpuQueue`, or, with other processes on the database, the fleet's
(`pictures.fleet_queue.FleetGpuQueue`)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from storycraft_bot.pictures.gpu_queue import JobKind, OnPosition, Ticket


class GpuTurns(Protocol):
    """Join, wait for the turn (Dequeued if replaced or cancelled first), then done."""

    def join(self, kind: JobKind, guild: str, session_id: int, job_id: str) -> Ticket: ...

    async def wait(self, ticket: Ticket, on_position: OnPosition | None = None) -> None: ...

    def done(self, ticket: Ticket) -> None: ...

    def turn(
        self,
        kind: JobKind,
        guild: str,
        session_id: int,
        job_id: str,
        on_position: OnPosition | None = None,
    ) -> AbstractAsyncContextManager[Ticket]: ...
