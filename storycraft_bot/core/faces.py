"""Who a picture shows, and what keeps their face: a seed kept per character and a
portrait from when they first appeared (a reference for workflows that take one: drawn
from their looks before their first picture; with other workflows their first picture)."""

from __future__ import annotations

import hashlib

from storycraft_bot.core.models import (
    Character,
    CharacterFace,
    PictureLooks,
    PictureStyle,
    Segment,
    StoryMemory,
)
from storycraft_bot.core.store import StoryStore

SEED_LIMIT = 2**32  # ComfyUI's KSampler takes any 64-bit seed; ours fit every backend
PORTRAIT_LOOKS_CHARS = 200  # the looks in a portrait's prompt, within one CLIP chunk or so


def characters_present(segment: Segment, memory: StoryMemory) -> tuple[Character, ...]:
    """Remembered characters named in the segment, in memory's order (the main one, the
    first remembered, first)."""
    haystack = f"{segment.narration} {segment.scene}".casefold()
    return tuple(c for c in memory.characters if c.name and c.name.casefold() in haystack)


def face_seed(session_id: int, name: str) -> int:
    """A character's seed: derived from the story and the name, so even a lost row would
    give the same one back."""
    digest = hashlib.sha256(f"{session_id}:{name.casefold()}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % SEED_LIMIT


async def picture_looks(
    store: StoryStore,
    session_id: int,
    segment: Segment,
    memory: StoryMemory,
    style: PictureStyle,
    now: float,
) -> PictureLooks:
    """The style, and for a picture showing a known character, their seed and portrait;
    the first picture of a character becomes their portrait. A redraw (the part has a
    picture already) keeps the portrait but takes a new seed, or it would come out the same."""
    present = characters_present(segment, memory)
    if not present:
        return PictureLooks(style)
    name = present[0].name
    face = (await store.character_faces(session_id)).get(name)
    if face is None:
        face = await store.add_character_face(
            session_id, CharacterFace(name, face_seed(session_id, name)), now
        )
    return PictureLooks(
        style,
        None if segment.image_file else face.seed,
        name,
        reference=face.portrait,
        portrait_for="" if face.portrait else name,
        portrait_prompt="" if face.portrait else portrait_prompt(present[0], style),
    )


def portrait_prompt(character: Character, style: PictureStyle) -> str:
    """A head-and-shoulders portrait from the character's looks, in the story's style."""
    looks = character.looks.strip().rstrip(".")[:PORTRAIT_LOOKS_CHARS] or "a person"
    return f"portrait of {looks}, head and shoulders, facing the viewer, {style.positive}"
