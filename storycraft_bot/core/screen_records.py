"""What adapters may know of stored segments: the ScreenRecords port and its one
implementation on top of the store, so no adapter ever holds the store itself."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from storycraft_bot.core.models import Language, MessageRef, Platform, Segment
from storycraft_bot.core.rating import is_spoiler
from storycraft_bot.core.store import StoryStore


@dataclass(frozen=True, slots=True)
class ShownSegment:
    """A stored segment with what a screen needs to show it again after a restart."""

    segment: Segment
    language: Language
    is_group: bool
    messages: tuple[MessageRef, ...]
    upload: str  # the platform's reference to the uploaded picture ("" if none)
    spoiler: bool = False  # its picture is shown hidden (a mature story's)
    own_actions: bool = True  # the story lets players type their own action


class ScreenRecords(Protocol):
    """Message references and picture uploads of one platform's screens."""

    async def shown_segment(self, segment_id: int, platform: Platform) -> ShownSegment | None:
        """The segment as last shown on `platform`; None if unknown."""
        ...

    async def set_messages(self, segment_id: int, refs: Sequence[MessageRef]) -> None: ...

    async def set_image_upload(self, segment_id: int, platform: Platform, ref: str) -> None: ...


class StoredScreens:
    """ScreenRecords on top of the store."""

    def __init__(self, store: StoryStore) -> None:
        self._store = store

    async def shown_segment(self, segment_id: int, platform: Platform) -> ShownSegment | None:
        segment = await self._store.get_segment(segment_id)
        session = await self._store.get_session(segment.session_id) if segment else None
        if segment is None or session is None or session.place.key.platform is not platform:
            return None
        refs = tuple(r for r in await self._store.messages(segment_id) if r.platform is platform)
        return ShownSegment(
            segment,
            session.language,
            session.place.is_group,
            refs,
            segment.image_uploads.get(platform.value, ""),
            is_spoiler(session.settings.rating),
            session.settings.own_actions,
        )

    async def set_messages(self, segment_id: int, refs: Sequence[MessageRef]) -> None:
        await self._store.set_messages(segment_id, refs)

    async def set_image_upload(self, segment_id: int, platform: Platform, ref: str) -> None:
        await self._store.set_image_upload(segment_id, platform, ref)
