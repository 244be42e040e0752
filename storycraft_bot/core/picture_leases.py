"""Who draws each picture, with several processes on one store.

A process claims a segment's picture before queueing it, renews its claims while they
wait and draw, and gives each up once the picture is drawn, failed or dropped. So a
process starting beside live ones leaves their pictures alone, a sweeping process takes
over the pictures of one that died (`FleetSweep`), and a claim that cannot be renewed
(the part retried or undone, the story stopped or paused at any process, or the picture
redrawn by another) stops the drawing here: deleted from ComfyUI's queue or interrupted.
One process alone (`LocalCoordination`) claims nothing and renews nothing.
"""

from __future__ import annotations

import asyncio
import logging

from storycraft_bot.core.clock import Clock
from storycraft_bot.core.coordination import Coordination
from storycraft_bot.core.models import Picture, PictureFailure, PictureJob, SubmittedPrompt
from storycraft_bot.core.ports import Illustrator, PictureReporter

log = logging.getLogger(__name__)

#: Renewed this many times per lease period, so one late renewal does not lose a claim.
_RENEWALS_PER_LEASE = 3


class PictureLeases:
    """The picture claims this process holds: taken, renewed, given up."""

    def __init__(self, coordination: Coordination, clock: Clock, illustrator: Illustrator) -> None:
        self._coordination = coordination
        self._clock = clock
        self._illustrator = illustrator
        self._held: dict[int, int] = {}  # segment id -> its session id
        self._renewer: asyncio.Task[None] | None = None

    async def hold(self, session_id: int, segment_id: int, *, take: bool) -> bool:
        """Claim the picture; False if another live process draws it (unless `take`)."""
        if not self._coordination.shared:
            return True
        if not await self._coordination.hold_picture(segment_id, self._clock.now(), take=take):
            log.info("picture of segment %d is drawn by another process", segment_id)
            return False
        self._held[segment_id] = session_id
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._renew(), name="picture-leases")
        return True

    async def release(self, segment_id: int) -> None:
        if self._held.pop(segment_id, None) is None:
            return
        try:
            await self._coordination.release_picture(segment_id)
        except Exception as err:  # its claim runs out by itself
            log.warning("picture claim of segment %d could not be given up: %s", segment_id, err)

    def reporting(self, reports: PictureReporter) -> PictureReporter:
        """`reports`, giving the claim up once the picture is over."""
        if not self._coordination.shared:
            return reports
        return _Releasing(reports, self)

    async def _renew(self) -> None:
        every = self._coordination.lease_seconds / _RENEWALS_PER_LEASE
        while self._held:
            await self._clock.sleep(every)
            held = dict(self._held)
            try:
                kept = set(await self._coordination.renew_pictures(sorted(held), self._clock.now()))
            except asyncio.CancelledError:
                raise
            except Exception as err:  # tried again; a claim lost only lets another draw it
                log.warning("picture claims could not be renewed: %s", err)
                continue
            for segment_id, session_id in held.items():
                if segment_id not in kept and segment_id in self._held:
                    await self._stop(session_id, segment_id)

    async def _stop(self, session_id: int, segment_id: int) -> None:
        """Decided elsewhere: the picture is not wanted from us any more."""
        log.info("picture of segment %d: no longer ours to draw, cancelled", segment_id)
        await self.release(segment_id)
        try:
            await self._illustrator.cancel_session(session_id, [segment_id])
        except Exception:
            log.exception("picture of segment %d could not be cancelled", segment_id)


class _Releasing:
    """A PictureReporter that gives the picture's claim up after its last report."""

    def __init__(self, inner: PictureReporter, leases: PictureLeases) -> None:
        self._inner = inner
        self._leases = leases

    async def picture_submitted(self, job: PictureJob, prompt: SubmittedPrompt) -> None:
        await self._inner.picture_submitted(job, prompt)

    async def picture_queued(self, job: PictureJob, ahead: int) -> None:
        await self._inner.picture_queued(job, ahead)

    async def picture_progress(self, job: PictureJob, percent: int) -> None:
        await self._inner.picture_progress(job, percent)

    async def picture_ready(self, job: PictureJob, picture: Picture) -> None:
        try:
            await self._inner.picture_ready(job, picture)
        finally:
            await self._leases.release(job.segment_id)

    async def picture_failed(self, job: PictureJob, failure: PictureFailure, reason: str) -> None:
        try:
            await self._inner.picture_failed(job, failure, reason)
        finally:
            await self._leases.release(job.segment_id)

    async def picture_dropped(self, job: PictureJob) -> None:
        try:
            await self._inner.picture_dropped(job)
        finally:
            await self._leases.release(job.segment_id)
