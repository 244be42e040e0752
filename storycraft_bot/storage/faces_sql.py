"""Character faces (seed and portrait per character of a story), for both backends."""

from __future__ import annotations

from storycraft_bot.core.models import CharacterFace
from storycraft_bot.storage.sql_protocols import SqlBackend


class FaceQueries(SqlBackend):
    """The character-face part of the StoryStore, over SqlStore's transactions."""

    async def character_faces(self, session_id: int) -> dict[str, CharacterFace]:
        rows = await self._all(
            "SELECT name, seed, portrait FROM character_faces WHERE session_id = ?",
            (session_id,),
        )
        return {
            str(r["name"]): CharacterFace(str(r["name"]), int(r["seed"]), str(r["portrait"]))
            for r in rows
        }

    async def add_character_face(
        self, session_id: int, face: CharacterFace, now: float
    ) -> CharacterFace:
        """Keeps a face already stored under that name (its seed never changes)."""
        # No transaction needed: the insert keeps a stored face, the read after it sees
        # whichever face is stored (ours or an earlier one).
        await self._run(
            "INSERT INTO character_faces (session_id, name, seed, portrait, updated_at)"
            " VALUES (?,?,?,?,?) ON CONFLICT (session_id, name) DO NOTHING",
            (session_id, face.name, face.seed, face.portrait, now),
        )
        row = await self._one(
            "SELECT seed, portrait FROM character_faces WHERE session_id = ? AND name = ?",
            (session_id, face.name),
        )
        if row is None:  # the story was deleted meanwhile
            return face
        return CharacterFace(face.name, int(row["seed"]), str(row["portrait"]))

    async def set_portrait(self, session_id: int, name: str, portrait: str) -> bool:
        """The character's portrait, unless one is stored already; True when set."""
        changed = await self._run(
            "UPDATE character_faces SET portrait = ?"
            " WHERE session_id = ? AND name = ? AND portrait = ''",
            (portrait, session_id, name),
        )
        return changed > 0
