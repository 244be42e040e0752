"""The queries of a story's character card and lorebook (table story_sources), as JSON
columns; mixed into SqlStore."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from storycraft_bot.core.lore import LoreEntry, StoryCard
from storycraft_bot.storage.picture_queries import PictureQueries


def _entry(raw: dict[str, Any]) -> LoreEntry:
    return LoreEntry(
        keys=tuple(str(k) for k in raw["keys"]),
        content=str(raw["content"]),
        secondary_keys=tuple(str(k) for k in raw["secondary_keys"]),
        constant=bool(raw["constant"]),
        order=int(raw["order"]),
    )


class SourceQueries(PictureQueries):
    """save_card/story_card and save_lore/lore of the StoryStore port."""

    async def save_card(self, session_id: int, card: StoryCard, now: float) -> None:
        await self._run(
            "INSERT INTO story_sources (session_id, card, updated_at) VALUES (?,?,?)"
            " ON CONFLICT (session_id) DO UPDATE SET card = excluded.card,"
            " updated_at = excluded.updated_at",
            (session_id, json.dumps(asdict(card), ensure_ascii=False), now),
        )

    async def story_card(self, session_id: int) -> StoryCard | None:
        row = await self._one("SELECT card FROM story_sources WHERE session_id = ?", (session_id,))
        if row is None or not row["card"]:
            return None
        return StoryCard(**{k: str(v) for k, v in json.loads(row["card"]).items()})

    async def save_lore(self, session_id: int, entries: Sequence[LoreEntry], now: float) -> None:
        lore = json.dumps([asdict(e) for e in entries], ensure_ascii=False)
        await self._run(
            "INSERT INTO story_sources (session_id, lore, updated_at) VALUES (?,?,?)"
            " ON CONFLICT (session_id) DO UPDATE SET lore = excluded.lore,"
            " updated_at = excluded.updated_at",
            (session_id, lore, now),
        )

    async def lore(self, session_id: int) -> tuple[LoreEntry, ...]:
        row = await self._one("SELECT lore FROM story_sources WHERE session_id = ?", (session_id,))
        if row is None:
            return ()
        return tuple(_entry(raw) for raw in json.loads(row["lore"]))
