"""After a restart: every active story continues where it was."""

from __future__ import annotations

import logging
from collections.abc import Collection

from storycraft_bot.core.clock import Clock
from storycraft_bot.core.models import Platform, Segment, SegmentState
from storycraft_bot.core.outage_retries import OutageRetries
from storycraft_bot.core.prewriting import Prewriter
from storycraft_bot.core.store import StoryStore
from storycraft_bot.core.supervision import ChannelLocks, Supervisor
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
        locks: ChannelLocks,
        tasks: Supervisor,
        writer: Writer,
        votes: VoteTimers,
        prewriter: Prewriter,
        outages: OutageRetries,
    ) -> None:
        self._store = store
        self._clock = clock
        self._lock = locks
        self._tasks = tasks
        self._writer = writer
        self._votes = votes
        self._prewriter = prewriter
        self._outages = outages

    async def resume(self, platforms: Collection[Platform] | None = None) -> int:
        """Continue every active story (of these platforms); returns how many."""
        await self._writer.forget_orphaned_prompts()
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
                    log.info(
                        "story %d: rewriting segment %d cut off by the restart",
                        session.id,
                        current.index,
                    )
                    segment = await self._store.replace_segment(current, self._clock.now())
                    await self._carry_messages(current, segment)
                    self._tasks.spawn(
                        session.id, self._writer.write(session, segment, resumed=True)
                    )
                elif current.state is SegmentState.OPEN and current.vote_closes_at is not None:
                    self._votes.schedule(session, current)
                if current.state is SegmentState.OPEN:
                    self._prewriter.plan(session, current)
                elif current.state is SegmentState.FAILED:
                    self._outages.schedule(session, current)
                segments = await self._store.live_segments(session.id)
                self._tasks.spawn(
                    session.id, self._writer.recover_pictures(session, segments), lasting=True
                )
        if sessions:
            log.info("resumed %d stories", len(sessions))
        return len(sessions)

    async def _carry_messages(self, cut: Segment, rewrite: Segment) -> None:
        """The messages of a part cut off by a restart go to its rewrite, so the screens
        write the new part over the half-written one instead of leaving it beside."""
        refs = await self._store.messages(cut.id)
        if refs:
            await self._store.set_messages(rewrite.id, refs)
            await self._store.set_messages(cut.id, ())
