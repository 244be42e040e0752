"""Character faces and picture settings stored on a real SQLite file and a real
PostgreSQL: a seed never changes once stored, a portrait is set once, both survive a
reopening; a story's style and illustrate mode are kept in its settings."""

from __future__ import annotations

from dataclasses import replace

from storycraft_bot.core.models import (
    Actor,
    CharacterFace,
    Draft,
    GuildDefaults,
    IllustrateMode,
    Language,
    SegmentDraft,
    StorySettings,
)
from tests.conftest import GROUP, AnyStore, StoreFactory

ALICE = Actor("u1", "Alice")


async def test_a_face_keeps_its_first_seed_and_portrait_across_reopening(
    make_store: StoreFactory,
) -> None:
    settings = StorySettings(style="ink", illustrate=IllustrateMode.SCENE_CHANGE)
    async with make_store() as store:
        session = await store.create_session(
            GROUP, ALICE, Language.EN, "fantasy", "", settings, 1.0
        )
        mara = await store.add_character_face(session.id, CharacterFace("Mara", 3_000_000_000), 2.0)
        again = await store.add_character_face(session.id, CharacterFace("Mara", 7), 3.0)
        await store.add_character_face(session.id, CharacterFace("Tom", 8), 3.0)
        assert mara == again == CharacterFace("Mara", 3_000_000_000)
        assert await store.set_portrait(session.id, "Mara", "/pictures/1/3-1.png")
        assert not await store.set_portrait(session.id, "Mara", "/pictures/1/9-2.png")
        assert not await store.set_portrait(session.id, "Nobody", "/pictures/1/9-2.png")

    async with make_store() as store:
        faces = await store.character_faces(session.id)
        reopened = await store.get_session(session.id)
    assert faces == {
        "Mara": CharacterFace("Mara", 3_000_000_000, "/pictures/1/3-1.png"),
        "Tom": CharacterFace("Tom", 8),
    }
    assert reopened is not None
    assert reopened.settings == settings
    assert reopened.settings.illustrate is IllustrateMode.SCENE_CHANGE


async def test_faces_belong_to_their_story(store: AnyStore) -> None:
    one = await store.create_session(GROUP, ALICE, Language.EN, "f", "", StorySettings(), 1.0)
    await store.add_character_face(one.id, CharacterFace("Mara", 1), 2.0)
    assert await store.character_faces(one.id + 1) == {}
    rows = [row async for row in store.table_rows("character_faces")]
    assert [(r["session_id"], r["name"], r["seed"]) for r in rows] == [(one.id, "Mara", 1)]


async def test_a_server_default_style_reaches_new_stories(store: AnyStore) -> None:
    defaults = GuildDefaults(style="horror")
    await store.save_guild_defaults(GROUP.key.platform, GROUP.guild_id, defaults, 1.0)
    assert await store.guild_defaults(GROUP.key.platform, GROUP.guild_id) == defaults


async def test_a_draft_keeps_whether_its_scene_is_new(store: AnyStore) -> None:
    session = await store.create_session(GROUP, ALICE, Language.EN, "f", "", StorySettings(), 1.0)
    segment = await store.add_segment(session.id, 0, "", 1.0)
    text = SegmentDraft("n", ("a", "b"), "s", "m", new_scene=False)
    await store.save_draft(Draft(session.id, segment.id, 0, "basis", text), 2.0)
    await store.save_draft(
        Draft(session.id, segment.id, 1, "basis", replace(text, new_scene=True)), 2.0
    )

    drafts = await store.drafts(segment.id)
    assert [d.text.new_scene for d in drafts] == [False, True]
