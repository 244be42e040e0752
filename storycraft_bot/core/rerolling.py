"""Re-rolling a part's choices (issue 16): the narration stays, the narrator is asked for
new choices in one small request, and the same message shows them in place of the old.

The request runs outside the channel's lock (players may still vote meanwhile); the new
choices are kept only if the part is still open with the choices that were re-rolled.
A re-roll clears the part's votes and drafts: they were for the old choices.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any

from storycraft_bot.core import events as ev
from storycraft_bot.core.access import require_manager, require_part
from storycraft_bot.core.announcer import Announcer
from storycraft_bot.core.arc import offers_end, with_end_choice
from storycraft_bot.core.coordination import PlaceLocks
from storycraft_bot.core.errors import NarratorError, StoryActionError
from storycraft_bot.core.models import Actor, Segment, SegmentState, Session
from storycraft_bot.core.ports import GpuGate, Narrator, NarratorGate, TextKind
from storycraft_bot.core.prewriting import Prewriter, RequestBuilder
from storycraft_bot.core.store import StoryStore
from storycraft_bot.core.texts import Msg
from storycraft_bot.core.vote_timers import VoteTimers

log = logging.getLogger(__name__)


class ChoiceReroller:
    """Asks for new choices and puts them on the open part."""

    def __init__(
        self,
        store: StoryStore,
        narrator: Narrator,
        narration: NarratorGate,
        gpu: GpuGate,
        locks: PlaceLocks,
        announce: Announcer,
        prewriter: Prewriter,
        votes: VoteTimers,
        build_request: RequestBuilder,
    ) -> None:
        self._store = store
        self._narrator = narrator
        self._narration = narration
        self._gpu = gpu
        self._locks = locks
        self._announce = announce
        self._prewriter = prewriter
        self._votes = votes
        self._build_request = build_request

    def begin(
        self, session: Session, actor: Actor, segment: Segment | None, segment_id: int | None
    ) -> Coroutine[Any, Any, None]:
        """Check that `actor` may re-roll the choices of `segment` (the newest part; a
        button's `segment_id` must be it) and return the work (the session's task)."""
        require_part(segment, segment_id)
        require_manager(session, actor)
        if segment is None or segment.state is not SegmentState.OPEN or not segment.choices:
            raise StoryActionError(Msg.PART_OVER if segment_id else Msg.BUSY_GENERATING)
        log.info(
            "story %d: new choices for part %d by %s", session.id, segment.index, actor.user_id
        )
        return self.reroll(session, segment)

    async def reroll(self, session: Session, segment: Segment) -> None:
        """New choices for the open part `segment` (run as the session's task)."""
        earlier = [
            s for s in await self._store.live_segments(session.id) if s.index < segment.index
        ]
        job = f"choices-{segment.id}"
        request = await self._build_request(
            session, earlier, segment.prompt_choice, job, TextKind.MEMORY
        )
        # The end choice is the core's own, not the narrator's: it stays, the others go.
        ends = offers_end(session.settings.length, segment.index)
        old = segment.choices[:-1] if ends else segment.choices
        try:
            async with (
                self._narration.turn(session.place, TextKind.STORY),
                self._gpu.text_turn(session.place, session.id, job),
            ):
                fresh = await self._narrator.new_choices(request, segment.narration, old)
        except NarratorError as err:
            log.warning(
                "story %d: new choices for part %d failed: %s", session.id, segment.index, err
            )
            await self._announce(
                ev.Notice(session.place.key, session.id, session.language, Msg.REROLL_FAILED)
            )
            return
        choices = with_end_choice(
            fresh[: request.choices], session.settings.length, segment.index, session.language
        )
        async with self._locks(session.place.key):
            now = await self._store.get_segment(segment.id)
            if now is None or now.state is not segment.state or now.choices != segment.choices:
                log.info(
                    "story %d: part %d moved on; new choices dropped", session.id, segment.index
                )
                return
            updated = await self._store.replace_choices(segment.id, choices)
            await self._prewriter.drop(session.id)
            updated = await self._votes.opened(session, updated)
            log.info("story %d: part %d has new choices", session.id, segment.index)
            await self._announce(
                ev.SegmentFinished(
                    session.place.key, session.id, session.language, updated, session.place.is_group
                )
            )
            self._prewriter.plan(session, updated)
