"""The store port: everything the core reads and writes, as a Protocol.

SQLite (`storycraft_bot.storage.sqlite.Store`) and PostgreSQL
(`storycraft_bot.storage.postgres.PostgresStore`) implement it; the core never imports a
backend. Each write is committed before it returns, so an event the engine emits after a
write describes state that survives a restart.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from typing import Protocol

from storycraft_bot.core.lore import LoreEntry, StoryCard
from storycraft_bot.core.models import (
    Actor,
    ChannelKey,
    CharacterFace,
    DecidedBy,
    Draft,
    GuildDefaults,
    ImagePrompt,
    ImageSource,
    ImageState,
    Language,
    MessageRef,
    Picture,
    Place,
    Platform,
    Segment,
    SegmentDraft,
    Session,
    SessionState,
    StoryMemory,
    StorySettings,
    SubmittedPrompt,
    VoteTally,
)
from storycraft_bot.core.safety_store import SafetyStore


class VoteOutcome(enum.StrEnum):
    """What a vote did: a new vote, a changed one, or nothing."""

    NEW = "new"
    CHANGED = "changed"
    SAME = "same"


class StoryStore(SafetyStore, Protocol):
    """Sessions, segments, votes, memory, pictures and message references (and safety's
    records, see SafetyStore)."""

    # Sessions

    async def create_session(
        self,
        place: Place,
        starter: Actor,
        language: Language,
        genre: str,
        premise: str,
        settings: StorySettings,
        now: float,
    ) -> Session:
        """A new active story; StoryActionError(STORY_EXISTS) if the channel has one."""
        ...

    async def get_session(self, session_id: int) -> Session | None: ...

    async def live_session(self, key: ChannelKey) -> Session | None:
        """The channel's active or paused story."""
        ...

    async def active_sessions(self) -> list[Session]: ...

    async def latest_session(self, key: ChannelKey) -> Session | None:
        """The channel's newest story, live or stopped."""
        ...

    async def session_by_book(self, book_id: str) -> Session | None:
        """The story whose book has this id."""
        ...

    async def set_session_state(self, session_id: int, state: SessionState, now: float) -> None: ...

    async def update_settings(
        self, session_id: int, settings: StorySettings, now: float
    ) -> None: ...

    async def guild_defaults(self, platform: Platform, guild_id: str) -> GuildDefaults: ...

    async def save_guild_defaults(
        self, platform: Platform, guild_id: str, defaults: GuildDefaults, now: float
    ) -> None: ...

    # Segments

    async def add_segment(
        self, session_id: int, index: int, prompt_choice: str, now: float
    ) -> Segment: ...

    async def get_segment(self, segment_id: int) -> Segment | None: ...

    async def current_segment(self, session_id: int) -> Segment | None:
        """The newest live (not superseded) segment."""
        ...

    async def live_segments(self, session_id: int) -> list[Segment]:
        """The story so far, oldest first."""
        ...

    async def finish_segment(self, segment_id: int, draft: SegmentDraft, now: float) -> Segment: ...

    async def fail_segment(self, segment_id: int, now: float) -> None: ...

    async def replace_segment(self, old: Segment, now: float) -> Segment:
        """Supersede `old` and add a new GENERATING segment at its place."""
        ...

    async def step_back(self, current: Segment, previous: Segment, now: float) -> Segment:
        """Supersede `current` and reopen `previous`."""
        ...

    async def decide(
        self, segment: Segment, choice_index: int, decided_by: DecidedBy, now: float
    ) -> Segment | None:
        """Close `segment` and add the next one; None if it was no longer open."""
        ...

    async def set_vote_deadline(self, segment_id: int, closes_at: float) -> None: ...

    async def set_auto_retry(self, segment_id: int, tries: int, due: float | None) -> None:
        """How many automatic tries led to the segment, and when the next one is due."""
        ...

    # Pictures

    async def set_image_prompt(
        self, segment_id: int, positive: str, negative: str, source: ImageSource
    ) -> None: ...

    async def save_picture(self, segment_id: int, picture: Picture) -> None: ...

    async def set_image_state(self, segment_id: int, state: ImageState) -> None: ...

    async def drop_waiting_picture(self, segment_id: int) -> None:
        """The segment's picture is no longer waited for: no picture, unless it is ready,
        failed or turned off meanwhile."""
        ...

    async def set_submitted(self, segment_id: int, prompt: SubmittedPrompt | None) -> None:
        """The ComfyUI prompt the segment's picture waits for (None: none any more)."""
        ...

    async def orphaned_prompts(self) -> list[tuple[int, SubmittedPrompt]]:
        """(segment id, prompt) of submitted prompts no part waits for any more: the part
        was superseded, its story stopped, or its picture settled otherwise."""
        ...

    async def set_image_upload(self, segment_id: int, platform: Platform, ref: str) -> None: ...

    # Message references (what adapters remember through the ScreenRecords port)

    async def messages(self, segment_id: int) -> tuple[MessageRef, ...]: ...

    async def set_messages(self, segment_id: int, refs: Iterable[MessageRef]) -> None: ...

    # Prewritten drafts (issue 14)

    async def save_draft(self, draft: Draft, now: float) -> None:
        """Keep a finished draft (replacing one for the same part and choice)."""
        ...

    async def drafts(self, segment_id: int) -> list[Draft]:
        """The finished drafts for the choices of this part, by choice."""
        ...

    async def drop_drafts(self, session_id: int, keep: int | None = None) -> int:
        """Forget the story's drafts (all but those of part `keep`); returns how many."""
        ...

    # Votes and memory

    async def cast_vote(
        self, segment_id: int, voter: Actor, choice_index: int, now: float
    ) -> VoteOutcome: ...

    async def tally(self, segment: Segment) -> VoteTally: ...

    async def memory(self, session_id: int) -> StoryMemory: ...

    async def save_memory(self, session_id: int, memory: StoryMemory, now: float) -> None: ...

    # Own actions (issue 15)

    async def add_own_action(self, segment: Segment, author: Actor, action: str) -> Segment | None:
        """Put a typed action on the open part's ballot as its last choice, by `author`;
        the part as it is now, or None when it is no longer open or its ballot changed
        since `segment` was read."""

    # Endings and vote windows (issue 16)

    async def end_session(self, session_id: int, now: float) -> None:
        """The story reached its ending: stopped, and marked as ended (Session.ended)."""
        ...

    async def move_vote_deadline(
        self, segment_id: int, closes_at: float | None, extensions: int
    ) -> None:
        """Move an open part's vote deadline, with how often an empty vote was extended."""
        ...

    async def replace_choices(self, segment_id: int, choices: tuple[str, ...]) -> Segment:
        """New choices for an open part (a re-roll); its votes are dropped."""

    # Character cards and lorebooks (issue 16)

    async def save_card(self, session_id: int, card: StoryCard, now: float) -> None:
        """Keep the card the story was started from."""
        ...

    async def story_card(self, session_id: int) -> StoryCard | None:
        """The story's card, None when it was not started from one."""
        ...

    async def save_lore(self, session_id: int, entries: Sequence[LoreEntry], now: float) -> None:
        """Attach a lorebook to the story, replacing the one it had."""
        ...

    async def lore(self, session_id: int) -> tuple[LoreEntry, ...]:
        """The story's lorebook entries (none without a lorebook)."""

    # Character faces (issue 16)

    async def character_faces(self, session_id: int) -> dict[str, CharacterFace]:
        """Each character's seed and portrait, by name."""
        ...

    async def add_character_face(
        self, session_id: int, face: CharacterFace, now: float
    ) -> CharacterFace:
        """Store a new character's face; the one already stored under its name wins."""
        ...

    async def set_portrait(self, session_id: int, name: str, portrait: str) -> bool:
        """The character's portrait file, unless one is stored; True when set."""
        ...

    # Picture reports (issue 12)

    async def picture_target(
        self, session_id: int, segment_id: int
    ) -> tuple[Session, ImageState] | None:
        """The story and its segment's picture state, None when either is gone or the
        segment was superseded: what each queue-position/progress report needs, in one read."""
        ...

    async def queue_picture(self, segment_id: int, prompt: ImagePrompt | None) -> None:
        """Mark the segment's picture queued, storing its newly written prompt with it."""
        ...
