"""Character cards and lorebooks read from files: V2 and V3, JSON and PNG, and every
hostile file refused with its reason."""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

import pytest

from storycraft_bot.cards.card_file import CARD_MAX_BYTES, read_card
from storycraft_bot.cards.lorebook_file import LOREBOOK_MAX_ENTRIES, read_lorebook
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.lore import LoreEntry, chosen_lore
from storycraft_bot.core.models import Language
from storycraft_bot.core.texts import Msg, text
from tests.card_files import card_json, card_png, chunk, png_with, world_info


def refusal(data: bytes, *, lorebook: bool = False) -> StoryActionError:
    read = read_lorebook if lorebook else read_card
    with pytest.raises(StoryActionError) as caught:
        read(data, user="Ann")
    return caught.value


@pytest.mark.parametrize("spec", ["chara_card_v2", "chara_card_v3"])
def test_a_json_card_gives_the_premise_and_the_hero(spec: str) -> None:
    contents = read_card(json.dumps(card_json(spec)).encode(), user="Ann")
    card = contents.card
    assert card.name == "Mira"
    assert card.premise == "Mira finds a message in a bottle on the rocks below the lighthouse."
    assert card.personality == "Curious, stubborn, kind to Ann."
    assert card.first_message.startswith("The storm has passed, Ann.")
    assert card.hero.name == "Mira"
    assert "copper hair" in card.hero.looks


@pytest.mark.parametrize(
    ("spec", "keyword", "kind"),
    [
        ("chara_card_v2", "chara", b"tEXt"),
        ("chara_card_v3", "ccv3", b"tEXt"),
        ("chara_card_v2", "chara", b"zTXt"),
        ("chara_card_v3", "ccv3", b"iTXt"),
    ],
)
def test_a_png_card_is_read_from_its_text_chunk(spec: str, keyword: str, kind: bytes) -> None:
    card = read_card(card_png(card_json(spec, name="Orrin"), keyword, kind), user="Ann").card
    assert card.name == "Orrin"
    assert "lighthouse" in card.premise


def test_a_png_with_both_chunks_is_read_as_v3() -> None:
    v2 = card_png(card_json("chara_card_v2", name="Old"))
    v3_text = base64.b64encode(json.dumps(card_json("chara_card_v3", name="New")).encode())
    both = png_with(chunk(b"tEXt", b"ccv3\0" + v3_text))
    iend = v2.rindex(b"IEND") - 4
    combined = both[: both.rindex(b"IEND") - 4] + v2[v2.index(b"tEXt") - 4 : iend] + v2[iend:]
    assert read_card(combined, user="Ann").card.name == "New"


def test_markup_is_stripped_and_other_macros_removed() -> None:
    card = card_json(
        description="<b>Tall</b> &amp; <i>quiet</i>{{random:a,b}} <img src=x.png>",
        scenario="{{char}} waits for <USER>.",
    )
    read = read_card(json.dumps(card).encode(), user="Ann").card
    assert read.description == "Tall & quiet"
    assert read.scenario == "Mira waits for Ann."


def test_the_cards_instructions_are_never_kept() -> None:
    read = read_card(json.dumps(card_json()).encode(), user="Ann").card
    assert "French" not in repr(read)


def test_an_embedded_character_book_becomes_the_lorebook() -> None:
    book = {
        "extensions": {},
        "entries": [
            {
                "keys": ["bottle"],
                "content": "The bottle is {{char}}'s.",
                "extensions": {},
                "enabled": True,
                "insertion_order": 5,
            },
            {
                "keys": ["off"],
                "content": "Disabled.",
                "extensions": {},
                "enabled": False,
                "insertion_order": 1,
            },
        ],
    }
    contents = read_card(json.dumps(card_json(character_book=book)).encode(), user="Ann")
    assert contents.lore == (LoreEntry(("bottle",), "The bottle is Mira's.", order=5),)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("description", "Nice <script>alert(1)</script>"),
        ("scenario", '<a href="javascript:alert(1)">x</a>'),
        ("personality", '<img src=x onerror="fetch(1)">'),
        ("first_mes", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("description", "<iframe src=//evil></iframe>"),
    ],
)
def test_scripts_and_active_html_are_refused(field: str, value: str) -> None:
    err = refusal(json.dumps(card_json(**{field: value})).encode())
    assert err.code is Msg.CARD_SCRIPT
    assert err.params["field"] == f"data.{field}"
    assert "data." + field in text(Language.EN, err.code, **err.params)


def hostile_cases() -> list[tuple[str, bytes, Msg]]:
    good = card_json()
    bomb = zlib.compress(b"A" * (64 * 1024 * 1024), 9)  # about 64 KB inflating to 64 MB
    return [
        ("oversized file", b" " * (CARD_MAX_BYTES + 1), Msg.CARD_TOO_LARGE),
        ("oversized json", b" " * (1024 * 1024 + 1), Msg.CARD_TOO_LARGE),
        ("not json", b"hello", Msg.CARD_NOT_A_CARD),
        ("v1 card", json.dumps({"name": "X", "description": "d"}).encode(), Msg.CARD_BAD_SCHEMA),
        ("no name", json.dumps(card_json(name="")).encode(), Msg.CARD_BAD_SCHEMA),
        (
            "number name",
            json.dumps(card_json(name="X") | {"data": {"name": 5}}).encode(),
            Msg.CARD_BAD_SCHEMA,
        ),
        (
            "list data",
            json.dumps({"spec": "chara_card_v2", "data": []}).encode(),
            Msg.CARD_BAD_SCHEMA,
        ),
        (
            "long field",
            json.dumps(card_json(scenario="x" * 4001)).encode(),
            Msg.CARD_FIELD_TOO_LONG,
        ),
        ("png without chunk", png_with(), Msg.CARD_NO_CHUNK),
        ("broken base64", png_with(chunk(b"tEXt", b"chara\0@@not base64@@")), Msg.CARD_DAMAGED),
        (
            "base64 of junk",
            png_with(chunk(b"tEXt", b"chara\0" + base64.b64encode(b"\xff\xfe"))),
            Msg.CARD_DAMAGED,
        ),
        ("zip bomb ztxt", png_with(chunk(b"zTXt", b"chara\0\0" + bomb)), Msg.CARD_TOO_LARGE),
        ("bad checksum", card_png(good)[:-20] + b"\0" * 4 + card_png(good)[-16:], Msg.CARD_DAMAGED),
        ("truncated png", card_png(good)[:60], Msg.CARD_DAMAGED),
    ]


@pytest.mark.parametrize(
    ("data", "code"),
    [(d, c) for _, d, c in hostile_cases()],
    ids=[name for name, _, _ in hostile_cases()],
)
def test_hostile_cards_are_refused_with_a_reason(data: bytes, code: Msg) -> None:
    err = refusal(data)
    assert err.code is code
    for language in Language:
        assert text(language, err.code, **err.params)


def test_a_world_info_file_gives_its_enabled_entries() -> None:
    data = world_info(
        {"key": ["bottle", "/bot+le/i"], "content": "<b>Glass</b> from {{user}}.", "order": 7},
        {"key": [], "content": "The sea is cold.", "constant": True},
        {"key": ["gone"], "content": "Disabled.", "disable": True},
        {"key": ["/only regex/"], "content": "Never triggered."},
        {
            "key": ["tower"],
            "keysecondary": ["night"],
            "content": "Lit at night.",
            "selective": True,
        },
    )
    assert read_lorebook(data, user="Ann") == (
        LoreEntry(("bottle",), "Glass from Ann.", order=7),
        LoreEntry((), "The sea is cold.", constant=True),
        LoreEntry(("tower",), "Lit at night.", ("night",)),
    )


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"[1, 2]", Msg.LOREBOOK_BAD),
        (b"{not json", Msg.LOREBOOK_BAD),
        (
            json.dumps({"entries": {"0": {"key": "bottle", "content": "x"}}}).encode(),
            Msg.CARD_BAD_SCHEMA,
        ),
        (world_info({"key": ["a"], "content": "x" * 4001}), Msg.CARD_FIELD_TOO_LONG),
        (world_info({"key": ["a"], "content": "<script>x</script>"}), Msg.CARD_SCRIPT),
        (
            world_info(*({"key": ["a"], "content": "x"} for _ in range(LOREBOOK_MAX_ENTRIES + 1))),
            Msg.LOREBOOK_TOO_MANY,
        ),
    ],
)
def test_hostile_lorebooks_are_refused_with_a_reason(data: bytes, code: Msg) -> None:
    assert refusal(data, lorebook=True).code is code


def entry(key: str, content: str, **more: Any) -> LoreEntry:
    return LoreEntry((key,), content, **more)


def test_lore_is_chosen_by_key_constant_first_then_by_order() -> None:
    entries = [
        entry("bottle", "Bottle fact.", order=1),
        entry("lighthouse", "Lighthouse fact.", order=9),
        entry("dragon", "Dragon fact."),
        LoreEntry((), "Always told.", constant=True),
        entry("tower", "Tower at night.", secondary_keys=("night",)),
    ]
    told = chosen_lore(entries, ["She climbs the LIGHTHOUSE tower.", "the bottle"])
    assert told == ("Always told.", "Lighthouse fact.", "Bottle fact.")
    assert "Tower at night." in chosen_lore(entries, ["the tower at night"])
    assert chosen_lore(entries, ["bottles everywhere"]) == ("Always told.",)  # whole words


def test_lore_stays_within_its_budget() -> None:
    entries = [entry("sea", "a " * 300, order=3), entry("sea", "short one", order=2)]
    assert chosen_lore(entries, ["the sea"], budget=100) == ("short one",)
    assert len(chosen_lore(entries, ["the sea"], budget=400)) == 2
