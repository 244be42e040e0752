"""After a restart: every active story continues where it was."""

from __future__ import annotations

import logging
from collections.abc import Collection

from storycraft_bot.core.clock import Clock
from storycraft_bot.core.coordination import Coordination, LocalCoordination, PlaceLocks
from storycraft_bot.core.fleet_sweep import FleetSweep
from storycraft_bot.core.models import (
    ImageState,
    Platform,
    Segment,
    SegmentState,
    Session,
    SessionState,
)
from storycraft_bot.core.outage_retries import OutageRetries
from storycraft_bot.core.ports import Illustrator
from storycraft_bot.core.prewriting import Prewriter
from storycraft_bot.core.store import StoryStore
from storycraft_bot.core.supervision import Supervisor
from storycraft_bot.core.vote_timers import VoteTimers
from storycraft_bot.core.writing import Writer

log = logging.getLogger(__name__)


class Recovery:
    """Rewrites parts cut off by the restart, reopens vote windows, restarts prewriting
    and automatic retries, draws the pictures that never came, and has ComfyUI drop the
    prompts no part waits for any more."""

    def __init__(
        self,
        store: StoryStore,
        clock: Clock,
        locks: PlaceLocks,
        tasks: Supervisor,
        writer: Writer,
        illustrator: Illustrator,
        votes: VoteTimers,
        prewriter: Prewriter,
        outages: OutageRetries,
        fleet: Coordination | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._lock = locks
        self._tasks = tasks
        self._writer = writer
        self._illustrator = illustrator
        self._votes = votes
        self._prewriter = prewriter
        self._outages = outages
        self._fleet = fleet or LocalCoordination()
        self._sweep = FleetSweep(self._fleet, store, clock, votes, self, outages)
        self._sweeping = False

    async def resume(self, platforms: Collection[Platform] | None = None) -> int:
        """Continue every active story (of these platforms); returns how many. With other
        processes on the store, also look for what they leave from now on (FleetSweep)."""
        if self._fleet.shared and not self._sweeping:
            self._sweeping = True  # one sweep, however many platforms resume
            self._tasks.keep("fleet-sweep", self._sweep.run(self._fleet.sweep_seconds))
        await self._forget_orphaned_prompts()
        sessions = [
            s
            for s in await self._store.active_sessions()
            if platforms is None or s.place.key.platform in platforms
        ]
        for session in sessions:
            async with self._lock(session.place.key):
                current = await self._store.current_segment(session.id)
                if current is None:
                    current = await self._store.add_segment(session.id, 0, "", self._clock.now())
                if current.state is SegmentState.GENERATING:
                    await self._rewrite_if_cut(session, current)
                elif current.state is SegmentState.OPEN and current.vote_closes_at is not None:
                    self._votes.schedule(session, current)
                if current.state is SegmentState.OPEN:
                    self._prewriter.plan(session, current)
                elif current.state is SegmentState.FAILED:
                    self._outages.schedule(session, current)
                segments = await self._store.live_segments(session.id)
                self._tasks.spawn(
                    session.id, self._recover_pictures(session, segments), lasting=True
                )
        if sessions:
            log.info("resumed %d stories", len(sessions))
        return len(sessions)

    async def take_over(self, segment_id: int) -> bool:
        """Rewrite a segment whose writer (another process sharing the store) stopped
        renewing its lease, into the same messages; False if it is no longer wanted."""
        cut = await self._store.get_segment(segment_id)
        session = await self._store.get_session(cut.session_id) if cut else None
        if cut is None or session is None or session.state is not SessionState.ACTIVE:
            return False
        async with self._lock(session.place.key):
            current = await self._store.current_segment(session.id)
            if current is None or current.id != cut.id:
                return False  # undone, retried or rewritten meanwhile
            if current.state is not SegmentState.GENERATING:
                return False  # its writer finished after all
            log.info(
                "story %d: rewriting segment %d, its writer's lease ran out",
                session.id,
                current.index,
            )
            await self._rewrite(session, current)
            return True

    async def take_over_picture(self, segment_id: int) -> bool:
        """Draw (or wait for, if submitted) the picture of a segment whose drawer, another
        process sharing the store, stopped renewing its claim; False if not wanted."""
        segment = await self._store.get_segment(segment_id)
        session = await self._store.get_session(segment.session_id) if segment else None
        if segment is None or session is None or session.state is not SessionState.ACTIVE:
            return False
        if not (session.settings.pictures and self._illustrator.draws):
            return False
        if segment.state not in (SegmentState.OPEN, SegmentState.DECIDED):
            return False
        log.info("story %d: picture of segment %d taken over", session.id, segment.index)
        self._tasks.spawn(
            session.id,
            self._writer.illustrate(session, segment, reuse_prompt=True, backlog=True),
            lasting=True,
        )
        return True

    async def _rewrite_if_cut(self, session: Session, current: Segment) -> None:
        """A part being written when the process stopped is written again, unless
        another process sharing the store holds its lease (it is writing it)."""
        if not await self._fleet.hold_segment(current.id, self._clock.now()):
            log.info(
                "story %d: segment %d is written by another process", session.id, current.index
            )
            return
        log.info("story %d: rewriting segment %d cut off by the restart", session.id, current.index)
        try:
            await self._rewrite(session, current)
        finally:
            await self._fleet.release_segment(current.id)

    async def _rewrite(self, session: Session, cut: Segment) -> None:
        segment = await self._store.replace_segment(cut, self._clock.now())
        await self._carry_messages(cut, segment)
        self._tasks.spawn(session.id, self._writer.write(session, segment, resumed=True))

    async def _carry_messages(self, cut: Segment, rewrite: Segment) -> None:
        """The messages of a part cut off by a restart go to its rewrite, so the screens
        write the new part over the half-written one instead of leaving it beside."""
        refs = await self._store.messages(cut.id)
        if refs:
            await self._store.set_messages(rewrite.id, refs)
            await self._store.set_messages(cut.id, ())

    async def _recover_pictures(self, session: Session, segments: list[Segment]) -> None:
        """After a restart: every written segment whose picture was asked for (queued or
        drawing) or never asked for (the restart came first) gets it, newest first, behind
        live pictures. Its stored image prompt is reused, or written again if missing."""
        drawing = session.settings.pictures and self._illustrator.draws
        missing = [
            s
            for s in segments
            if s.state in (SegmentState.OPEN, SegmentState.DECIDED)
            and s.image_state in (ImageState.NONE, ImageState.QUEUED, ImageState.DRAWING)
        ]
        for segment in sorted(missing, key=lambda s: s.index, reverse=True):
            if not drawing:
                # Nothing will draw it: settle the row, the picture can be redrawn later.
                await self._store.set_image_state(segment.id, ImageState.NONE)
                await self._forget(segment)
                continue
            fresh = await self._store.get_segment(segment.id)
            if fresh is None or fresh.state not in (SegmentState.OPEN, SegmentState.DECIDED):
                continue  # undone or rewritten meanwhile
            log.info("story %d: picture of segment %d recovered", session.id, segment.index)
            await self._writer.illustrate(session, fresh, reuse_prompt=True, backlog=True)

    async def _forget_orphaned_prompts(self) -> int:
        """After a restart: prompts submitted for parts that no longer want their picture
        (superseded, stopped, settled) are deleted from ComfyUI or interrupted; how many."""
        orphans = await self._store.orphaned_prompts()
        for segment_id, prompt in orphans:
            log.info("prompt %s on %s is no longer wanted", prompt.prompt_id, prompt.server)
            await self._illustrator.forget(prompt)
            await self._store.set_submitted(segment_id, None)
        return len(orphans)

    async def _forget(self, segment: Segment) -> None:
        if segment.submitted is not None:
            await self._illustrator.forget(segment.submitted)
            await self._store.set_submitted(segment.id, None)
