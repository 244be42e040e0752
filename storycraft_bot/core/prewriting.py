"""Instant turns (issue 14): continuations written in advance while players choose.

While a part waits for its choice, the narrator's idle slots (TextKind.PREWRITE, the
lowest priority, taken back whenever anything else waits) write what would follow: each
choice in order in a private chat, the choice leading the vote in a group. A draft is
built from exactly the request the real turn would send and fingerprinted (`basis`); the
real turn uses it only if its own request has the same fingerprint. Finished drafts are
stored, so a restart reuses them; all of a story's drafts are dropped when its part is
retried, undone, stopped or decided.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from storycraft_bot.core.clock import Clock
from storycraft_bot.core.coordination import Coordination, LocalCoordination
from storycraft_bot.core.errors import NarratorError
from storycraft_bot.core.leases import DraftLeases
from storycraft_bot.core.models import (
    DecidedBy,
    Draft,
    DraftState,
    ImagePrompt,
    Segment,
    SegmentDraft,
    SegmentState,
    Session,
    SessionState,
)
from storycraft_bot.core.ports import (
    GpuGate,
    Illustrator,
    Narrator,
    NarratorGate,
    Promotable,
    PromptWriter,
    SegmentRequest,
    TextKind,
)
from storycraft_bot.core.store import StoryStore
from storycraft_bot.core.styles import StyleBook

log = logging.getLogger(__name__)

#: Model tokens are estimated from characters, as the Ollama fakes and most models do.
CHARS_PER_TOKEN = 4

OnText = Callable[[str], Awaitable[None]]
#: Builds the request of a turn from the parts before it and the choice: the Writer's own.
RequestBuilder = Callable[
    [Session, Sequence[Segment], str, str, TextKind], Awaitable[SegmentRequest]
]


class PrewriteMode(enum.StrEnum):
    """Which choices get drafts: none, the vote's leader, or every choice in turn.
    AUTO (the bot's default): every choice in a private chat, the leader in a group."""

    OFF = "off"
    LEADER = "leader"
    ALL = "all"
    AUTO = "auto"


class DraftUse(enum.StrEnum):
    """How a real turn used prewriting."""

    HIT = "hit"  # the draft was finished: shown whole at once
    PARTIAL = "partial"  # the draft was underway: joined where it was
    MISS = "miss"  # no usable draft: written as before


@dataclass(slots=True)
class PrewriteFigures:
    """What prewriting earned and cost (logs and the benchmark)."""

    hits: int = 0  # a press found its draft finished
    partial_hits: int = 0  # ... still being written, and joined it
    misses: int = 0  # no usable draft: written as before
    written_chars: int = 0
    wasted_chars: int = 0  # written into drafts nobody used

    @property
    def wasted_tokens(self) -> int:
        return self.wasted_chars // CHARS_PER_TOKEN

    @property
    def written_tokens(self) -> int:
        return self.written_chars // CHARS_PER_TOKEN


def request_basis(request: SegmentRequest) -> str:
    """A fingerprint of everything the narrator is told for a turn."""
    recent = [
        (s.id, s.narration, s.choices, s.scene, s.chosen_index, s.prompt_choice)
        for s in request.recent
    ]
    memory = request.memory
    looks = [(c.name, c.looks) for c in memory.characters]
    value = [
        request.language.value,
        request.genre,
        request.premise,
        request.words,
        request.choices,
        memory.summary,
        memory.summary_upto,
        looks,
        recent,
        request.chosen,
        # The arc (issue 16): a draft for another stage or an ending is another turn.
        [request.arc.stage.value, request.arc.parts_left, request.arc.ending]
        if request.arc
        else None,
    ]
    if request.hero is not None or request.lore:  # stories without a card keep their basis
        value += [request.hero.name if request.hero else "", "\n".join(request.lore)]
    return hashlib.sha256(json.dumps(value, ensure_ascii=False).encode()).hexdigest()


class LiveDraft:
    """A draft being written: its text so far, and the turn that joined it, if any."""

    def __init__(self, segment_id: int, choice_index: int) -> None:
        self.segment_id = segment_id
        self.choice_index = choice_index
        self.basis = ""
        self.text = ""
        self.slot: object = None
        self.follower: OnText | None = None
        self.done: asyncio.Future[Draft | None] = asyncio.get_running_loop().create_future()

    @property
    def claimed(self) -> bool:
        return self.follower is not None

    async def grow(self, text: str) -> None:
        self.text = text
        if self.follower is not None:
            await self.follower(text)

    def join(self, follower: OnText) -> None:
        """A real turn takes this draft over: its slot is no longer taken back."""
        self.follower = follower
        if isinstance(self.slot, Promotable):
            self.slot.promote()

    def end(self, draft: Draft | None) -> None:
        if not self.done.done():
            self.done.set_result(draft)


class Prewriter:
    """Writes drafts for open parts in the background and hands them to real turns."""

    def __init__(
        self,
        store: StoryStore,
        narrator: Narrator,
        prompts: PromptWriter,
        illustrator: Illustrator,
        narration: NarratorGate,
        gpu: GpuGate,
        clock: Clock,
        mode: PrewriteMode,
        cap: int,
        build_request: RequestBuilder,
        styles: StyleBook | None = None,
        coordination: Coordination | None = None,
    ) -> None:
        self._store = store
        self._narrator = narrator
        self._prompts = prompts
        self._illustrator = illustrator
        self._narration = narration
        self._gpu = gpu
        self._clock = clock
        self._mode = mode
        self._cap = cap
        self._build_request = build_request
        self._styles = styles or StyleBook()  # a draft's picture is in the story's style
        self._tasks: dict[int, asyncio.Task[None]] = {}  # per session
        self._live: dict[int, LiveDraft] = {}  # per session
        self.figures = PrewriteFigures()
        # With other processes on the store, one of them writes a part's drafts.
        self._leases = DraftLeases(coordination or LocalCoordination(), clock)

    @property
    def enabled(self) -> bool:
        return self._mode is not PrewriteMode.OFF and self._cap > 0

    def plan(self, session: Session, segment: Segment) -> None:
        """Prewrite for the open part, unless that is already under way (each round picks
        its target afresh, so a changed lead is followed without a new task)."""
        if not self.enabled or session.state is not SessionState.ACTIVE:
            return
        running = self._tasks.get(session.id)
        if running is not None and not running.done():
            return
        task = asyncio.create_task(self._run(session, segment.id), name=f"draft-{session.id}")
        self._tasks[session.id] = task
        task.add_done_callback(lambda done: self._forget(session.id, done))

    async def claim(
        self, session: Session, segment: Segment
    ) -> tuple[Draft | None, LiveDraft | None]:
        """The draft for the part about to be written (a finished one, or one still being
        written); the story's other drafts are dropped."""
        if not self.enabled or segment.index == 0:
            return None, None
        parent = next(
            (
                s
                for s in await self._store.live_segments(session.id)
                if s.index == segment.index - 1
            ),
            None,
        )
        if parent is None or parent.chosen_index is None:
            return None, None
        choice = parent.chosen_index
        live = self._live.get(session.id)
        if live is not None and (live.segment_id, live.choice_index) == (parent.id, choice):
            return None, live
        await self.cancel(session.id)
        finished = {d.choice_index: d for d in await self._store.drafts(parent.id)}
        chosen = finished.pop(choice, None)
        self._waste(sum(len(d.text.narration) for d in finished.values()))
        return chosen, None

    async def settle(self, session_id: int) -> None:
        """The part is written: nothing drafted for it is needed any more."""
        await self._store.drop_drafts(session_id)

    def count(self, use: DraftUse) -> None:
        """Count how a real turn used prewriting."""
        if use is DraftUse.HIT:
            self.figures.hits += 1
        elif use is DraftUse.PARTIAL:
            self.figures.partial_hits += 1
        else:
            self.figures.misses += 1
        f = self.figures
        log.info(
            "prewriting: %s (hits %d, partial %d, misses %d; ~%d of ~%d tokens in vain)",
            use.value,
            f.hits,
            f.partial_hits,
            f.misses,
            f.wasted_tokens,
            f.written_tokens,
        )

    async def drop(self, session_id: int) -> None:
        """Retry, undo, stop or pause: cancel the story's prewriting, forget its drafts."""
        await self.cancel(session_id)
        dropped = await self._store.drop_drafts(session_id)
        if dropped:
            log.info("story %d: %d drafts dropped", session_id, dropped)

    async def cancel(self, session_id: int) -> None:
        """Stop the draft underway (its text counts as written in vain)."""
        task = self._tasks.pop(session_id, None)
        live = self._live.pop(session_id, None)
        if live is not None and not live.claimed:
            self._waste(len(live.text))
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def state(self, session: Session, segment: Segment | None) -> DraftState | None:
        """For /status: the open part's finished drafts and whether one is underway."""
        if not self.enabled or segment is None or segment.state is not SegmentState.OPEN:
            return None
        live = self._live.get(session.id)
        writing = live is not None and live.segment_id == segment.id
        return DraftState(len(await self._store.drafts(segment.id)), writing)

    async def wait_idle(self) -> None:
        while pending := [t for t in self._tasks.values() if not t.done()]:
            await asyncio.gather(*pending, return_exceptions=True)

    async def shutdown(self) -> None:
        for session_id in list(self._tasks):
            await self.cancel(session_id)

    # Internals

    def _forget(self, session_id: int, done: asyncio.Task[None]) -> None:
        if self._tasks.get(session_id) is done:
            del self._tasks[session_id]

    def _waste(self, chars: int) -> None:
        self.figures.wasted_chars += chars

    async def _run(self, session: Session, segment_id: int) -> None:
        """Draft one target after the other until none is left (or the cap is reached),
        under the part's draft lease (another process may be drafting it)."""
        async with self._leases.writing(segment_id) as held:
            if held:
                await self._drafts(session, segment_id)

    async def _drafts(self, session: Session, segment_id: int) -> None:
        await self._store.drop_drafts(session.id, keep=segment_id)  # older parts' leftovers
        while True:
            segment = await self._store.get_segment(segment_id)
            if segment is None or segment.state is not SegmentState.OPEN:
                return
            done = {d.choice_index for d in await self._store.drafts(segment_id)}
            if len(done) >= self._cap:
                return
            todo = next((c for c in await self._targets(session, segment) if c not in done), None)
            if todo is None:
                return
            try:
                await self._write(session, segment, todo)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                live = self._live.get(session.id)
                taken_back = live is not None and _taken_back(live.slot)
                if not taken_back or task is None or task.uncancel() > 0:
                    raise
                log.info("story %d: draft for choice %d gave its slot up", session.id, todo)
                self._waste(len(live.text) if live else 0)
                self._live.pop(session.id, None)
            except NarratorError as err:
                log.info("story %d: prewriting stopped (%s)", session.id, err)
                return

    async def _targets(self, session: Session, segment: Segment) -> list[int]:
        everyone = list(range(len(segment.choices)))
        mode = self._mode
        if mode is PrewriteMode.AUTO:
            mode = PrewriteMode.LEADER if session.place.is_group else PrewriteMode.ALL
        if mode is PrewriteMode.ALL:
            return everyone
        counts = (await self._store.tally(segment)).counts
        if not any(counts):
            return []
        best = max(counts)
        return [c for c in everyone if c < len(counts) and counts[c] == best][:1]

    async def _write(self, session: Session, segment: Segment, choice: int) -> None:
        live = LiveDraft(segment.id, choice)
        self._live[session.id] = live
        try:
            draft = await self._draft(session, segment, choice, live)
        except BaseException:
            live.end(None)
            raise
        finally:
            if self._live.get(session.id) is live:
                del self._live[session.id]
        live.end(draft)

    async def _draft(
        self, session: Session, segment: Segment, choice: int, live: LiveDraft
    ) -> Draft:
        earlier = [
            s for s in await self._store.live_segments(session.id) if s.index < segment.index
        ]
        decided = replace(
            segment, state=SegmentState.DECIDED, chosen_index=choice, decided_by=DecidedBy.PRESS
        )
        job = f"draft-{segment.id}-{choice}"
        request = await self._build_request(
            session, [*earlier, decided], segment.choices[choice], job, TextKind.PREWRITE
        )
        live.basis = request_basis(request)
        async with (
            self._narration.turn(session.place, TextKind.PREWRITE) as slot,
            self._gpu.text_turn(session.place, session.id, job),
        ):
            live.slot = slot
            text = await self._narrator.write_segment(request, live.grow)
        self.figures.written_chars += len(text.narration)
        prompt = None
        if not live.claimed and session.settings.pictures and self._illustrator.draws:
            prompt = await self._prompt(session, segment, text, request, live)
        draft = Draft(session.id, segment.id, choice, live.basis, text, prompt)
        if not live.claimed:  # a joined draft is used at once; its turn keeps it
            await self._store.save_draft(draft, self._clock.now())
            log.info(
                "story %d: draft for choice %d of part %d ready", session.id, choice, segment.index
            )
        return draft

    async def _prompt(
        self,
        session: Session,
        segment: Segment,
        text: SegmentDraft,
        request: SegmentRequest,
        live: LiveDraft,
    ) -> ImagePrompt:
        following = Segment(
            0,
            session.id,
            segment.index + 1,
            SegmentState.OPEN,
            text.narration,
            text.choices,
            text.scene,
        )
        async with (
            self._narration.turn(session.place, TextKind.PREWRITE) as slot,
            self._gpu.text_turn(session.place, session.id, f"draft-prompt-{segment.id}"),
        ):
            live.slot = slot
            style = self._styles.for_story(session.genre, session.settings)
            return await self._prompts.image_prompt(session.genre, following, request.memory, style)


def _taken_back(slot: object) -> bool:
    return isinstance(slot, Promotable) and slot.taken_back
