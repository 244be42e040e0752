"""The Discord adapter: discord.py, unmodified, against the fake Discord (REST + gateway),
with the real engine, narrator (fake Ollama) and illustrator (fake ComfyUI)."""

from __future__ import annotations

import asyncio
import copy
import io
import itertools
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord
import pytest
import yarl
from PIL import Image

from adapters.discord_bot import DiscordAdapter, DiscordConfig, shrink
from storycraft_bot.core.engine import StoryEngine
from storycraft_bot.core.limits import AbuseLimits
from storycraft_bot.core.models import ChannelKey, IllustrateMode, Language, Platform
from storycraft_bot.core.ports import Illustrator
from storycraft_bot.core.prewriting import PrewriteMode
from storycraft_bot.core.screen_records import StoredScreens
from storycraft_bot.pictures.illustrator import ComfyIllustrator
from storycraft_bot.storage.sqlite import Store
from tests.conftest import CoreFactory
from tests.fake_comfyui import FakeComfyUI
from tests.fake_discord import MANAGE_GUILD, MANAGE_MESSAGES, TOKEN, FakeDiscord, Member
from tests.fake_ollama import FakeOllama, Reply
from tests.fakes import FakeClock, no_escapes, ticking
from tests.forgeries import dump, forgeries

REROLL = "🎲 New choices"  # every open card offers other choices (issue 16)
ALICE = Member(501, "Alice")
BOB = Member(502, "Bob")
CAROL = Member(503, "Carol")
MOD = Member(509, "Mod", permissions=MANAGE_MESSAGES | (1 << 11))
OWNER = Member(510, "Owner", permissions=MANAGE_GUILD | MANAGE_MESSAGES | (1 << 11))
STORIES = 2000
BATCH = 250  # forged presses in flight at once
OWN = "✍️ Your own action"  # the own-action button beside the choices (issue 15)


@dataclass
class Bot:
    engine: StoryEngine
    adapter: DiscordAdapter
    illustrator: Illustrator


BotFactory = Callable[..., Awaitable[Bot]]


@pytest.fixture
async def dc(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord()
    await server.start()
    # The two attributes that point discord.py at another server (REST and gateway).
    monkeypatch.setattr(discord.http.Route, "BASE", server.api_base)
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(server.gateway_url)
    )
    yield server
    await server.stop()


@pytest.fixture
async def make_bot(
    dc: FakeDiscord, make_core: CoreFactory, store: Store, tmp_path: Path
) -> AsyncIterator[BotFactory]:
    bots: list[Bot] = []

    async def build(
        *,
        comfy: FakeComfyUI | None = None,
        token: str = TOKEN,
        start: bool = True,
        clock: FakeClock | None = None,  # pace the screen on this clock (default: real time)
        prewrite: PrewriteMode = PrewriteMode.OFF,
        limits: AbuseLimits | None = None,
        **changes: Any,
    ) -> Bot:
        core = make_core(comfy, prewrite, limits)
        settings: dict[str, Any] = {
            "token": token,
            "data_dir": tmp_path,
            "edit_interval": 0.05,
            "language": Language.EN,
            "guild_ready_timeout": 0.1,
            "workflows": ("sd15", "sdxl"),
        }
        config = DiscordConfig(**{**settings, **changes})
        adapter = DiscordAdapter(core.engine, StoredScreens(store), config, clock)
        core.router.register(Platform.DISCORD, adapter)
        bot = Bot(core.engine, adapter, core.illustrator)
        if start:
            await adapter.start()
            bots.append(bot)
            async with asyncio.timeout(10):
                await adapter.wait_ready()
            await core.engine.resume()
        return bot

    yield build
    for bot in bots:
        await bot.adapter.stop()


def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (b.get("label", ""), b.get("custom_id", ""))
        for row in message.get("components", [])
        for b in row.get("components", [])
    ]


def description(message: dict[str, Any]) -> str:
    return "\n".join(e.get("description") or "" for e in message.get("embeds", []))


def story(dc: FakeDiscord, part: int, channel: int = STORIES) -> dict[str, Any] | None:
    message: dict[str, Any]
    for message in reversed(dc.story_messages(channel)):
        if description(message).startswith(f"Part {part}.") and any(
            c.startswith("sc:c:") for _, c in buttons(message)
        ):
            return message
    return None


async def reply_to(dc: FakeDiscord, interaction_id: int) -> str:
    await dc.wait_until(lambda: dc.reply_text(interaction_id) is not None)
    return dc.reply_text(interaction_id) or ""


def is_ephemeral(dc: FakeDiscord, interaction_id: int) -> bool:
    return bool(dc.replies[interaction_id][0].get("flags", 0) & 64)


async def test_commands_sync_once_with_russian_names(make_bot: BotFactory, dc: FakeDiscord) -> None:
    first = await make_bot()
    assert dc.command_puts == 1
    story_command = dc.commands["global"][0]
    assert story_command["name"] == "story"
    assert story_command["description_localizations"]["ru"] == "Интерактивные истории с картинками"
    start = next(o for o in story_command["options"] if o["name"] == "start")
    assert start["description_localizations"]["ru"] == "Начать историю в этом канале"
    await first.engine.shutdown()
    await first.adapter.stop()

    await make_bot()  # a restart with the same commands: no second sync
    assert dc.command_puts == 1


async def test_a_story_through_three_segments_with_pictures(
    make_bot: BotFactory, dc: FakeDiscord, fake_comfy: FakeComfyUI, clock: FakeClock
) -> None:
    await make_bot(comfy=fake_comfy)
    started = dc.slash(ALICE, STORIES, "start", premise="A lighthouse keeper finds a map")
    assert await reply_to(dc, started) == (
        "📖 **Alice** — The story begins…: *A lighthouse keeper finds a map*"
    )
    assert not is_ephemeral(dc, started)

    for part in (1, 2, 3):
        message = await dc.wait_until(lambda p=part: (m := story(dc, p)) and m["attachments"] and m)
        assert description(message).startswith(f"Part {part}. Mara the wanderer")
        embed = message["embeds"][-1]
        assert embed["image"]["url"] == f"attachment://{message['attachments'][0]['filename']}"
        assert [label for label, _ in buttons(message)] == [
            *(f"Path {part}.{i}" for i in (1, 2, 3)),
            "✍️ Your own action",
            REROLL,
        ]
        if part < 3:
            press = dc.click(ALICE, int(message["id"]), buttons(message)[0][1])
            assert await reply_to(dc, press) == f"Vote counted: Path {part}.1"
            assert is_ephemeral(dc, press)
            await clock.advance(60)  # a guild channel votes: the window decides
    assert dc.errors == []  # nothing Discord would refuse, no interaction answered late or twice
    # Pictures went in through the bot token: PATCH /channels/.../messages/..., multipart.
    edits_with_files = [b for b in dc.calls("PATCH", "/channels/") if b.get("attachments")]
    assert len(edits_with_files) >= 3


async def test_a_channel_vote_with_a_changed_vote_and_a_tie(
    make_bot: BotFactory, dc: FakeDiscord, clock: FakeClock
) -> None:
    await make_bot()
    dc.slash(ALICE, STORIES, "start")
    message = await dc.wait_until(lambda: story(dc, 1))
    mid = int(message["id"])
    first, second, third = (
        custom_id for _, custom_id in buttons(message) if custom_id.startswith("sc:c:")
    )

    assert await reply_to(dc, dc.click(ALICE, mid, first)) == "Vote counted: Path 1.1"
    assert await reply_to(dc, dc.click(BOB, mid, first)) == "Vote counted: Path 1.1"
    assert await reply_to(dc, dc.click(BOB, mid, second)) == "You changed your vote: Path 1.2"
    assert await reply_to(dc, dc.click(CAROL, mid, third)) == "Vote counted: Path 1.3"
    live = await dc.wait_until(
        lambda: (
            [label for label, c in buttons(dc.messages[mid]) if c.startswith("sc:c:")]
            == ["Path 1.1 · 1", "Path 1.2 · 1", "Path 1.3 · 1"]
            and dc.messages[mid]
        )
    )
    assert ":R>)" in description(live)  # the window's end as Discord's relative timestamp

    await clock.advance(60)
    decided = await dc.wait_until(
        lambda: "The group chose" in description(dc.messages[mid]) and dc.messages[mid]
    )
    assert "(1 vote, tie broken at random)" in description(decided)
    assert not buttons(decided)
    await dc.wait_until(lambda: story(dc, 2))


async def test_two_simultaneous_presses_never_decide_twice(
    make_bot: BotFactory, dc: FakeDiscord, store: Store
) -> None:
    bot = await make_bot()
    dc.slash(ALICE, STORIES, "start")
    message = await dc.wait_until(lambda: story(dc, 1))
    mid = int(message["id"])
    presses = [dc.click(ALICE, mid, "sc:c:1:0"), dc.click(BOB, mid, "sc:c:1:1")]  # the same instant
    assert sorted([await reply_to(dc, p) for p in presses]) == [
        "Vote counted: Path 1.1",
        "Vote counted: Path 1.2",
    ]
    await dc.wait_until(lambda: ("⏹ Close the vote", "sc:x:1") in buttons(dc.messages[mid]))

    closes = [dc.click(ALICE, mid, "sc:x:1"), dc.click(MOD, mid, "sc:x:1")]  # both at once
    answers = sorted([await reply_to(dc, c) for c in closes])

    assert answers == ["The vote is closed.", "This part is over."]
    await dc.wait_until(lambda: story(dc, 2))
    await bot.engine.wait_idle()
    assert len(await store.live_segments(1)) == 2
    decided = dc.messages[mid]
    assert (
        description(decided).count("Voting closed early") + description(decided).count("tie broken")
        == 1
    )


async def test_a_press_after_a_restart_and_on_an_old_segment(
    make_bot: BotFactory, dc: FakeDiscord, clock: FakeClock
) -> None:
    before = await make_bot()
    dc.slash(ALICE, STORIES, "start")
    message = await dc.wait_until(lambda: story(dc, 1))
    choices = buttons(message)  # what the players' clients still show
    seen_before_retry = copy.deepcopy(message)
    await before.engine.shutdown()
    await before.adapter.stop()

    await make_bot()  # a new client on the same database
    press = dc.click(ALICE, int(message["id"]), choices[1][1])
    assert await reply_to(dc, press) == "Vote counted: Path 1.2"
    retried = dc.slash(ALICE, STORIES, "retry")  # the starter rewrites part 1 instead
    assert await reply_to(dc, retried) == "Rewriting this part…"
    await dc.wait_until(lambda: (m := story(dc, 2)) and m["id"] != message["id"])
    assert not buttons(dc.messages[int(message["id"])])  # the rewritten part lost its buttons
    # ...but a press made on the old copy while that edit was on its way still arrives:
    stale = dc.click(BOB, int(message["id"]), choices[0][1], seen=seen_before_retry)
    assert await reply_to(dc, stale) == "This part is over."
    assert is_ephemeral(dc, stale)


async def test_permission_refusals_are_ephemeral(make_bot: BotFactory, dc: FakeDiscord) -> None:
    await make_bot()
    dc.slash(ALICE, STORIES, "start")
    await dc.wait_until(lambda: story(dc, 1))

    refused = dc.slash(BOB, STORIES, "stop")
    assert (
        await reply_to(dc, refused)
        == "Only the person who started the story or a moderator can do that."
    )
    assert is_ephemeral(dc, refused)
    stopped = dc.slash(MOD, STORIES, "stop")  # Manage Messages may stop it
    assert await reply_to(dc, stopped) == "The story has ended. Thanks for playing!"
    await dc.wait_until(
        lambda: any(
            m.get("content") == "The story has ended. Thanks for playing!"
            for m in dc.messages.values()
        )
    )


async def test_a_deleted_story_message_is_posted_again(
    make_bot: BotFactory, dc: FakeDiscord, clock: FakeClock
) -> None:
    await make_bot()
    dc.slash(ALICE, STORIES, "start")
    message = await dc.wait_until(lambda: story(dc, 1))
    assert (
        await reply_to(dc, dc.click(ALICE, int(message["id"]), buttons(message)[0][1]))
    ).startswith("Vote")
    dc.delete(int(message["id"]))

    await clock.advance(60)

    fresh = await dc.wait_until(
        lambda: next((m for m in dc.story_messages() if "The group chose" in description(m)), None)
    )
    assert fresh["id"] != message["id"]
    assert (f"/channels/2000/messages/{message['id']}", 10008) in dc.errors


async def test_a_message_too_old_to_edit_is_posted_anew(
    make_bot: BotFactory, dc: FakeDiscord, clock: FakeClock
) -> None:
    await make_bot()
    dc.slash(ALICE, STORIES, "start")
    message = await dc.wait_until(lambda: story(dc, 1))
    dc.too_old.add(int(message["id"]))
    await reply_to(dc, dc.click(ALICE, int(message["id"]), buttons(message)[2][1]))
    await clock.advance(60)
    fresh = await dc.wait_until(
        lambda: next(
            (m for m in dc.story_messages() if "The group chose: Path 1.3" in description(m)), None
        )
    )
    assert fresh["id"] != message["id"]
    assert (f"/channels/2000/messages/{message['id']}", 30046) in dc.errors


async def test_comfyui_failing_the_story_goes_on_without_pictures(
    make_bot: BotFactory, dc: FakeDiscord, fake_comfy: FakeComfyUI
) -> None:
    fake_comfy.fail_prompts = 1000
    await make_bot(comfy=fake_comfy)
    dc.slash(ALICE, STORIES, "start")
    message = await dc.wait_until(lambda: story(dc, 1))
    notice = await dc.wait_until(
        lambda: next(
            (m for m in dc.messages.values() if "Pictures are off" in (m.get("content") or "")),
            None,
        )
    )
    assert "story goes on in text" in notice["content"]
    assert not message["attachments"]


async def test_a_failed_picture_offers_redraw(
    make_bot: BotFactory, dc: FakeDiscord, fake_comfy: FakeComfyUI
) -> None:
    fake_comfy.checkpoints = ["other.safetensors"]
    await make_bot(comfy=fake_comfy)
    dc.slash(ALICE, STORIES, "start")
    failed = await dc.wait_until(
        lambda: (m := story(dc, 1)) and "The picture failed" in description(m) and m
    )
    assert buttons(failed)[-1] == ("🎨 Redraw", "sc:r:1")
    press = dc.click(BOB, int(failed["id"]), "sc:r:1")  # anyone may redraw a failed picture
    assert await reply_to(dc, press) == "Drawing it again…"


async def test_a_long_narration_is_split_across_embeds(
    make_bot: BotFactory, dc: FakeDiscord, fake_ollama: FakeOllama
) -> None:
    narration = "\n\n".join(
        f"Paragraph {n}. " + "The sea was loud that night. " * 40 for n in range(8)
    )
    fake_ollama.then(
        Reply(
            content=json.dumps({"narration": narration, "choices": ["Go", "Stay"], "scene": "sea"}),
            chunk_size=400,
        )
    )
    await make_bot()
    dc.slash(ALICE, STORIES, "start")
    last = await dc.wait_until(
        lambda: next(
            (m for m in dc.story_messages() if any(c.startswith("sc:c:") for _, c in buttons(m))),
            None,
        )
    )
    messages = dc.story_messages()
    assert len(messages) >= 2
    assert all(len(e.get("description") or "") <= 4096 for m in messages for e in m["embeds"])
    assert description(messages[0]).startswith("Paragraph 0.")
    assert [m for m in messages if buttons(m)] == [last]


async def test_buttons_of_unknown_form_or_segment_are_closed_and_missing_permissions(
    make_bot: BotFactory, dc: FakeDiscord, store: Store
) -> None:
    await make_bot()
    dc.slash(ALICE, STORIES, "start")
    await dc.wait_until(lambda: story(dc, 1))
    # Buttons an older version (or another bot build) left behind: Discord still delivers them.
    old = dc.post_as_bot(STORIES, ["story:choice:1:0", "sc:c:999:1", "sc:c:1:9"])
    for custom_id in ("story:choice:1:0", "sc:c:999:1", "sc:c:1:9"):
        press = dc.click(ALICE, old, custom_id)
        assert await reply_to(dc, press) == "This part is over."
        assert is_ephemeral(dc, press)

    dc.no_permission.add(2001)
    dc.slash(ALICE, 2001, "start")
    await dc.wait_until(lambda: dc.calls("POST", "/channels/2001/messages"))
    status = dc.slash(ALICE, 2001, "status")
    await dc.wait_until(lambda: len(dc.replies.get(status, [])) >= 2)
    assert "I lack permissions in this channel" in dc.replies[status][1]["content"]
    assert "The story is paused" in dc.replies[status][1]["content"]
    assert dc.replies[status][1]["flags"] & 64
    # The pause is scheduled beside the refused call (the engine may hold the channel's lock).
    async with asyncio.timeout(10):
        while True:
            session = await store.live_session(ChannelKey(Platform.DISCORD, "2001"))
            assert session is not None
            if session.state.value == "paused":  # no more refused requests for this story
                break
            await asyncio.sleep(0.01)


async def test_every_interaction_got_exactly_one_first_answer(
    make_bot: BotFactory, dc: FakeDiscord
) -> None:
    await make_bot()
    ids = [
        dc.slash(ALICE, STORIES, "start"),
        dc.slash(ALICE, STORIES, "help"),
        dc.slash(BOB, STORIES, "undo"),
    ]
    for interaction_id in ids:
        await reply_to(dc, interaction_id)
    callbacks = [p for m, p, _ in dc.requests if p.startswith("/interactions/")]
    assert len(callbacks) == len(ids)
    assert dc.errors == []


async def test_a_wrong_token_is_a_login_failure(make_bot: BotFactory) -> None:
    bot = await make_bot(token="wrong", start=False)
    with pytest.raises(discord.LoginFailure):
        await bot.adapter.start()


def test_oversized_pictures_are_re_encoded_smaller() -> None:
    picture = Image.effect_noise((600, 600), 90).convert("RGB")
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    big = buffer.getvalue()

    small = shrink(big, 40_000)

    assert len(big) > 40_000 >= len(small)
    with Image.open(io.BytesIO(small)) as result:
        assert result.format == "JPEG"


async def test_server_defaults_need_manage_server_and_put_stories_in_threads(
    make_bot: BotFactory, dc: FakeDiscord, store: Store
) -> None:
    await make_bot()
    refused = dc.slash(MOD, STORIES, "defaults", threads=True)
    assert (
        await reply_to(dc, refused)
        == "Only members with Manage Server can change the server's defaults."
    )
    assert is_ephemeral(dc, refused)
    saved = dc.slash(OWNER, STORIES, "defaults", threads=True, vote_window=30)
    assert await reply_to(dc, saved) == (
        "For new stories: pictures default, voting 30 s, own thread on, style default, "
        "rating default."
    )

    started = dc.slash(ALICE, STORIES, "start", premise="The lost key")
    answer = await reply_to(dc, started)

    thread = next(c for c in dc.channels.values() if c["type"] == 11)
    assert thread["name"] == "📖 The lost key"
    assert answer.endswith(f"The story is in the thread <#{thread['id']}>.")
    message = await dc.wait_until(lambda: story(dc, 1, channel=int(thread["id"])))
    assert message["channel_id"] == thread["id"]
    session = await store.get_session(1)
    assert session is not None
    assert session.place.key.thread_id == thread["id"]
    assert session.settings.vote_window_seconds == 30  # the server's default
    # The story lives in the thread: its buttons work there.
    press = dc.click(BOB, int(message["id"]), "sc:c:1:0")
    assert await reply_to(dc, press) == "Vote counted: Path 1.1"


async def test_the_picture_style_is_a_story_setting(
    make_bot: BotFactory, dc: FakeDiscord, store: Store
) -> None:
    await make_bot()
    dc.slash(ALICE, STORIES, "start")
    await dc.wait_until(lambda: story(dc, 1))
    unknown = dc.slash(ALICE, STORIES, "settings", workflow="flux")
    assert await reply_to(dc, unknown) == "No such style. There are: sd15, sdxl."
    chosen = dc.slash(ALICE, STORIES, "settings", workflow="sdxl")
    assert (await reply_to(dc, chosen)).startswith("Story settings:")
    session = await store.get_session(1)
    assert session is not None
    assert session.settings.workflow == "sdxl"


async def test_undo_shows_the_reopened_part_again_at_the_bottom(
    make_bot: BotFactory, dc: FakeDiscord, clock: FakeClock
) -> None:
    await make_bot()
    dc.slash(ALICE, STORIES, "start")
    first = await dc.wait_until(lambda: story(dc, 1))
    await reply_to(dc, dc.click(ALICE, int(first["id"]), "sc:c:1:1"))
    await clock.advance(60)
    second = await dc.wait_until(lambda: story(dc, 2))

    undo = dc.slash(ALICE, STORIES, "undo")
    assert await reply_to(dc, undo) == "The last choice was undone — choose again."

    again = await dc.wait_until(
        lambda: (m := story(dc, 1)) and int(m["id"]) > int(second["id"]) and m
    )
    assert [label for label, c in buttons(again) if c.startswith("sc:c:")] == [
        "Path 1.1",
        "Path 1.2",
        "Path 1.3",
    ]
    for old in (first, second):
        # Marked within one edit interval (the paced edits of the old message come first).
        shown = await dc.wait_until(
            lambda o=old: (
                (m := dc.messages[int(o["id"])])
                and description(m).endswith("↩ This choice was undone.")
                and m
            )
        )
        assert not buttons(shown)


async def test_a_premise_that_mentions_everyone_pings_nobody(
    make_bot: BotFactory, dc: FakeDiscord
) -> None:
    await make_bot()
    started = dc.slash(ALICE, STORIES, "start", premise="@everyone look at <@&1> and <@502>")
    assert "@everyone" in await reply_to(dc, started)
    await dc.wait_until(lambda: story(dc, 1))

    # Sent messages and replies say "ping nobody" (edits never notify, embeds never ping).
    sent = [b for m, p, b in dc.requests if m == "POST" and p.endswith("/messages")]
    followups = [b for m, p, b in dc.requests if m == "POST" and p.startswith("/webhooks/")]
    assert sent
    assert followups
    for body in [*sent, *followups]:
        assert body.get("allowed_mentions") == {"parse": []}, body


async def test_presses_and_commands_are_answered_in_time_while_every_edit_waits(
    make_bot: BotFactory, dc: FakeDiscord, store: Store
) -> None:
    # Scaled down: a 1 s deadline while every edit of the channel is refused for 3 s.
    dc.interaction_deadline = 1.0
    await make_bot()
    dc.slash(ALICE, STORIES, "start")
    message = await dc.wait_until(lambda: story(dc, 1))
    mid = int(message["id"])
    assert await reply_to(dc, dc.click(ALICE, mid, "sc:c:1:0")) == "Vote counted: Path 1.1"
    await dc.wait_until(lambda: ("⏹ Close the vote", "sc:x:1") in buttons(dc.messages[mid]))

    dc.rate_limit("PATCH", f"/channels/{STORIES}/messages/", 3.0)
    close = dc.click(ALICE, mid, "sc:x:1")  # its decision edit waits out the 429s
    vote = dc.click(BOB, mid, "sc:c:1:1")  # behind the close on the channel's lock
    status = dc.slash(BOB, STORIES, "status")
    assert await reply_to(dc, close) == "The vote is closed."  # the outcome, by followup
    assert await reply_to(dc, vote) == "This part is over."
    assert "1 part so far" in await reply_to(dc, status)
    await dc.wait_until(lambda: dc.limited)  # the edits really were held up
    for interaction in (close, vote, status):
        answered = dc.answered_within(interaction)
        assert answered is not None
        assert answered < dc.interaction_deadline
    assert all(code not in (10062, 40060) for _, code in dc.errors)
    assert is_ephemeral(dc, close)
    await dc.wait_until(lambda: story(dc, 2))  # the decision is on screen once the 429s end
    assert "Voting closed early" in description(dc.messages[mid])
    assert not buttons(dc.messages[mid])


async def test_buttons_of_an_old_part_change_nothing(
    make_bot: BotFactory, dc: FakeDiscord, store: Store, tmp_path: Path
) -> None:
    bot = await make_bot()
    dc.slash(ALICE, STORIES, "start")
    first = await dc.wait_until(lambda: story(dc, 1))
    mid = int(first["id"])
    await reply_to(dc, dc.click(ALICE, int(first["id"]), "sc:c:1:0"))
    await dc.wait_until(lambda: ("⏹ Close the vote", "sc:x:1") in buttons(dc.messages[mid]))
    assert await reply_to(dc, dc.click(ALICE, int(first["id"]), "sc:x:1")) == "The vote is closed."
    await dc.wait_until(lambda: story(dc, 2))
    await bot.engine.wait_idle()
    before = dump(tmp_path / "story.sqlite3")

    # What the starter's client may still show on part 1 (an older copy of it), and the
    # template-shaped ids of parts that never were: each is "over", privately.
    old = dc.post_as_bot(STORIES, ["sc:t:1", "sc:r:1", "sc:x:1", "sc:c:1:2", "sc:t:99", "sc:x:3"])
    for custom_id in ("sc:t:1", "sc:r:1", "sc:x:1", "sc:c:1:2", "sc:t:99", "sc:x:3"):
        press = dc.click(ALICE, old, custom_id)
        assert await reply_to(dc, press) == "This part is over.", custom_id
        assert is_ephemeral(dc, press)
    await bot.engine.wait_idle()
    assert dump(tmp_path / "story.sqlite3") == before
    retried = dc.slash(ALICE, STORIES, "retry")  # the command still acts on the newest part
    assert await reply_to(dc, retried) == "Rewriting this part…"


@pytest.mark.stress
@pytest.mark.timeout(600)
async def test_ten_thousand_forged_ids_change_nothing_and_each_is_answered(
    make_bot: BotFactory, dc: FakeDiscord, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # About what forgeries change, not the 3 s deadline (tested on its own above): a
    # loaded machine may slow a batch that shares one event loop with the fake server.
    dc.interaction_deadline = 10.0
    bot = await make_bot()
    dc.slash(ALICE, STORIES, "start")
    await dc.wait_until(lambda: story(dc, 1))
    await bot.engine.wait_idle()
    before = dump(tmp_path / "story.sqlite3")

    forged = forgeries(10_000, random.Random(7), prefix="sc:", limit=100)
    messages = [dc.post_as_bot(STORIES, forged[i : i + 25]) for i in range(0, len(forged), 25)]
    presses: list[int] = []
    for start in range(0, len(forged), BATCH):
        batch = [
            dc.click(BOB, messages[n // 25], forged[n])
            for n in range(start, min(start + BATCH, len(forged)))
        ]
        # Generous: a loaded machine slows the batch, not what it proves.
        await dc.wait_until(lambda batch=batch: all(p in dc.replies for p in batch), seconds=60)
        presses += batch

    assert {dc.reply_text(p) for p in presses} <= {
        "This part is over.",
        "Only the person who started the story or a moderator can do that.",
    }
    assert all(is_ephemeral(dc, p) for p in presses)
    await bot.engine.wait_idle()
    assert dump(tmp_path / "story.sqlite3") == before
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


FAULTS = {
    "429 within discord.py's retries": (429, 0, "You are being rate limited.", 2),
    "429 past discord.py's retries": (429, 0, "You are being rate limited.", 6),
    "50013 on edits": (403, 50013, "Missing Permissions", 50),
    "10008 on an edit": (404, 10008, "Unknown Message", 1),
    "30046 on an edit": (400, 30046, "Maximum number of edits to messages older than 1 hour", 2),
}


@pytest.mark.parametrize("fault", FAULTS)
async def test_every_refused_edit_takes_the_one_error_path(
    make_bot: BotFactory,
    dc: FakeDiscord,
    store: Store,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    status, code, message, times = FAULTS[fault]
    await make_bot(clock=clock, edit_interval=1.0)
    dc.refuse_next("PATCH", status, code, message, retry_after=0.01, times=times)
    async with ticking(clock):
        dc.slash(ALICE, STORIES, "start")
        if code == 50013:

            async def paused() -> bool:
                session = await store.get_session(1)
                return session is not None and session.state.value == "paused"

            for _ in range(500):
                if await paused():
                    break
                await asyncio.sleep(0.01)
            assert await paused()
            await clock.advance(30)  # every paced edit would be out by now
            refused = [e for e in dc.errors if e[1] == 50013]
            assert len(refused) == 1  # one refused PATCH, then the story paused
        else:
            shown = await dc.wait_until(lambda: story(dc, 1))
            assert [label for label, _ in buttons(shown)] == [
                "Path 1.1",
                "Path 1.2",
                "Path 1.3",
                OWN,
                REROLL,
            ]
    if code in (10008, 30046):  # posted again; the old message was asked to drop its buttons
        first = min(int(m["id"]) for m in dc.story_messages())
        assert int(shown["id"]) != first

        def stripped() -> bool:
            edits = [b for m, p, b in dc.requests if m == "PATCH" and p.endswith(f"/{first}")]
            return bool(edits[-1].get("components") == [])

        await dc.wait_until(stripped)
    assert dc.problems == []
    no_escapes(caplog)


async def test_no_message_is_edited_twice_within_the_interval(
    make_bot: BotFactory, dc: FakeDiscord, fake_ollama: FakeOllama, clock: FakeClock
) -> None:
    dc.now = clock.now
    await make_bot(clock=clock, edit_interval=1.0)
    async with ticking(clock):
        dc.slash(ALICE, STORIES, "start")
        first = await dc.wait_until(lambda: story(dc, 1))
        for member, choice in ((ALICE, 0), (BOB, 1), (CAROL, 1), (ALICE, 1)):
            await reply_to(dc, dc.click(member, int(first["id"]), buttons(first)[choice][1]))
        await dc.wait_until(lambda: story(dc, 2))
    assert len(dc.edit_times[int(first["id"])]) >= 3
    for times in dc.edit_times.values():
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert all(gap >= 1.0 for gap in gaps), times


async def test_a_shrunk_picture_reposted_after_30046_arrives_whole_under_its_name(
    make_bot: BotFactory, dc: FakeDiscord, fake_comfy: FakeComfyUI, caplog: pytest.LogCaptureFixture
) -> None:
    fake_comfy.hold = True
    await make_bot(comfy=fake_comfy, upload_limit=100)  # every picture is re-encoded
    dc.slash(ALICE, STORIES, "start")
    message = await dc.wait_until(lambda: story(dc, 1))
    dc.too_old.add(int(message["id"]))  # the picture's edit is refused: posted anew
    fake_comfy.release()
    fresh = await dc.wait_until(lambda: (m := story(dc, 1)) and m["attachments"] and m)
    assert fresh["id"] != message["id"]
    name = fresh["attachments"][0]["filename"]
    assert name.endswith(".jpg")
    assert fresh["embeds"][-1]["image"]["url"] == f"attachment://{name}"
    assert fresh["attachments"][0]["size"] > 0
    assert dc.problems == []  # no empty upload, no embed pointing at a missing file
    no_escapes(caplog)


async def test_the_book_command_sends_the_story_as_one_html_file_with_its_link(
    make_bot: BotFactory, dc: FakeDiscord, clock: FakeClock
) -> None:
    await make_bot(web_url="http://books.example:8080")
    dc.slash(ALICE, STORIES, "start", premise="The lighthouse map")
    message = await dc.wait_until(lambda: story(dc, 1))
    press = dc.click(ALICE, int(message["id"]), buttons(message)[1][1])
    await reply_to(dc, press)
    await clock.advance(60)  # a guild channel votes: the window decides
    await dc.wait_until(lambda: story(dc, 2))

    asked = dc.slash(BOB, STORIES, "book")
    said = await reply_to(dc, asked)
    assert is_ephemeral(dc, asked)  # like status: an answer for the one who asked
    assert said.startswith("📖 The book of “The lighthouse map”: 2 parts")
    assert "Read it online: http://books.example:8080/book/" in said
    reply = dc.replies[asked][0]
    [attachment] = reply["attachments"]
    assert attachment["filename"] == "story-the-lighthouse-map.html"
    assert attachment["size"] > 0
    page = dc.uploads[attachment["id"]].decode()
    assert page.index("Part 1. Mara") < page.index("» chosen: Path 1.2") < page.index("Part 2.")
    assert dc.errors == []


async def test_a_press_on_a_reposted_parts_old_message_is_refused(
    make_bot: BotFactory, dc: FakeDiscord, store: Store
) -> None:
    await make_bot()
    dc.slash(ALICE, STORIES, "start")
    old = await dc.wait_until(lambda: story(dc, 1))
    dc.too_old.add(int(old["id"]))  # 30046 to every edit, the one that strips buttons too
    vote = buttons(old)[0][1]
    assert await reply_to(dc, dc.click(ALICE, int(old["id"]), vote)) == "Vote counted: Path 1.1"
    new = await dc.wait_until(
        lambda: next((m for m in dc.story_messages() if int(m["id"]) > int(old["id"])), None)
    )
    assert buttons(dc.messages[int(old["id"])])  # its buttons stayed

    assert await reply_to(dc, dc.click(BOB, int(old["id"]), vote)) == "This part is over."
    segment = await store.current_segment(1)
    assert segment is not None
    assert (await store.tally(segment)).voters == 1  # the old message changed nothing
    counted = await reply_to(dc, dc.click(BOB, int(new["id"]), buttons(new)[0][1]))
    assert counted == "Vote counted: Path 1.1"
    assert (await store.tally(segment)).voters == 2


KILL_POINTS = ("before the first edit", "mid-stream", "between text and picture", "mid-vote")


def with_choices(dc: FakeDiscord) -> list[dict[str, Any]]:
    return [m for m in dc.story_messages() if any(c.startswith("sc:c:") for _, c in buttons(m))]


@pytest.mark.parametrize("point", KILL_POINTS)
async def test_a_restart_at_each_point_leaves_one_message_per_part(
    make_bot: BotFactory,
    dc: FakeDiscord,
    fake_ollama: FakeOllama,
    fake_comfy: FakeComfyUI,
    store: Store,
    clock: FakeClock,
    point: str,
) -> None:
    comfy = fake_comfy if point == "between text and picture" else None
    fake_comfy.hold = True  # no picture is finished before the kill
    pace = asyncio.Semaphore(0)
    if point in ("before the first edit", "mid-stream"):
        fake_ollama.then(Reply(pace=pace))
    before = await make_bot(comfy=comfy)
    dc.slash(ALICE, STORIES, "start")

    if point == "before the first edit":
        await dc.wait_until(dc.story_messages)
        # The paced reply is this bot's: its request reached the narrator, no word came.
        await fake_ollama.wait_until(lambda: fake_ollama.chat_requests("segment"))
    elif point == "mid-stream":
        pace.release()  # the first words show, the next ones wait for the engine's pace
        await dc.wait_until(
            lambda: [m for m in dc.story_messages() if description(m).startswith("P\n")]
        )
        await clock.advance(10)
        for _ in range(6):
            pace.release()
        await dc.wait_until(
            lambda: [m for m in dc.story_messages() if description(m).startswith("Part 1. Mara")]
        )
    else:
        message = await dc.wait_until(lambda: story(dc, 1))
        if point == "between text and picture":
            await asyncio.wait_for(fake_comfy.received.wait(), 5)
        else:
            vote = buttons(message)[0][1]
            assert await reply_to(dc, dc.click(ALICE, int(message["id"]), vote)) == (
                "Vote counted: Path 1.1"
            )

    async def stored() -> bool:
        segment = await store.current_segment(1)
        return segment is not None and bool(await store.messages(segment.id))

    for _ in range(250):
        if await stored():
            break
        await asyncio.sleep(0.02)
    assert await stored()
    first = int(dc.story_messages()[0]["id"])
    await before.engine.shutdown()  # the process dies here
    await before.adapter.stop()
    if isinstance(before.illustrator, ComfyIllustrator):
        await before.illustrator.close()  # its pictures die with it

    fake_comfy.release()  # ComfyUI draws the prompt it held, the new bot waits for it
    await make_bot(comfy=comfy)
    await dc.wait_until(lambda: with_choices(dc))
    parts = 1
    if point == "between text and picture":
        await dc.wait_until(lambda: dc.messages[first]["attachments"])
    if point == "mid-vote":
        await clock.advance(60)
        await dc.wait_until(lambda: len(with_choices(dc)) == 1 and len(dc.story_messages()) == 2)
        parts = 2
    shown = dc.story_messages()
    assert len(shown) == parts  # one message per part: the cut one became the finished part
    assert int(shown[0]["id"]) == first
    assert with_choices(dc)[0]["id"] == shown[-1]["id"]
    assert not [m for m in shown if "The narrator is writing" in description(m)]


async def test_a_reply_asked_again_leaves_nothing_of_the_discarded_one(
    make_bot: BotFactory, dc: FakeDiscord, fake_ollama: FakeOllama
) -> None:
    runaway = "On and on the story goes " * 800  # cut at the token cap: asked again
    first, held = asyncio.Semaphore(1), asyncio.Semaphore(0)
    fake_ollama.then(
        Reply.segment(runaway, ["Run"], "", chunk_size=400, pace=first), Reply(pace=held)
    )
    await make_bot()
    dc.slash(ALICE, STORIES, "start")
    await dc.wait_until(
        lambda: (m := dc.story_messages()) and description(m[0]).startswith("On and on")
    )
    for _ in range(100):
        first.release()

    await fake_ollama.wait_until(lambda: len(fake_ollama.chat_requests("segment")) == 2)
    # While the second reply is held, the message shows none of the first one.
    writing = "✍️ The narrator is writing…"
    await dc.wait_until(lambda: description(dc.story_messages()[0]) == writing)
    for _ in range(2000):
        held.release()
    await dc.wait_until(lambda: story(dc, 1))
    assert len(dc.story_messages()) == 1


def negative_prompts(comfy: FakeComfyUI) -> list[str]:
    """The negative prompt of every picture asked of ComfyUI, in order."""
    return [
        str(node["inputs"]["text"])
        for body in comfy.posted_prompts()
        for node in body["prompt"].values()
        if node.get("_meta", {}).get("title") == "Negative Prompt"
    ]


async def test_mature_only_in_an_age_restricted_channel_with_spoiler_pictures(
    make_bot: BotFactory,
    dc: FakeDiscord,
    fake_comfy: FakeComfyUI,
    fake_ollama: FakeOllama,
    store: Store,
) -> None:
    general = 2001
    dc.channels[general]["nsfw"] = True  # age-restricted, as a server owner marks it
    await make_bot(comfy=fake_comfy)
    refused = dc.slash(ALICE, STORIES, "start", premise="A dark tale", rating="mature")
    assert await reply_to(dc, refused) == (
        "The mature rating is only allowed in age-restricted channels. Mark the channel "
        "age-restricted in its settings or choose another rating."
    )
    assert is_ephemeral(dc, refused)
    assert await store.live_session(ChannelKey(Platform.DISCORD, str(STORIES))) is None

    dc.slash(ALICE, general, "start", premise="A dark tale", rating="mature")
    message = await dc.wait_until(
        lambda: (m := story(dc, 1, channel=general)) and m["attachments"] and m
    )
    # Sent as a spoiler: blurred until clicked, so not shown inside the embed.
    assert message["attachments"][0]["filename"].startswith("SPOILER_")
    assert "image" not in message["embeds"][-1]
    system = fake_ollama.chat_requests("segment")[0]["messages"][0]["content"]
    assert "Rating: mature" in system
    status = dc.slash(ALICE, general, "status")
    assert (await reply_to(dc, status)).endswith("Rating: mature.")

    dc.slash(BOB, STORIES, "start", premise="A bright tale")  # the safe default
    # (The fake narrator numbers parts across stories: this one's first says "Part 2.")
    safe = await dc.wait_until(
        lambda: next((m for m in dc.story_messages() if m["attachments"]), None)
    )
    assert not safe["attachments"][0]["filename"].startswith("SPOILER_")
    assert (
        "Rating: safe for all ages"
        in fake_ollama.chat_requests("segment")[-1]["messages"][0]["content"]
    )
    mature_negative, safe_negative = negative_prompts(fake_comfy)
    assert "nudity" in safe_negative
    assert "nudity" not in mature_negative
    assert "watermark" in mature_negative  # the prompt writer's own negative stays
    unsafe = dc.slash(BOB, STORIES, "settings", rating="mature")
    assert (await reply_to(dc, unsafe)).startswith("The mature rating is only allowed")
    assert dc.errors == []


async def test_an_over_long_premise_is_refused_privately_with_its_length(
    make_bot: BotFactory, dc: FakeDiscord, store: Store
) -> None:
    await make_bot()
    refused = dc.slash(ALICE, STORIES, "start", premise="a" * 1001)
    assert await reply_to(dc, refused) == (
        "The premise is too long: 1001 characters, at most 1000 fit. Shorten it and start again."
    )
    assert is_ephemeral(dc, refused)
    assert await store.live_session(ChannelKey(Platform.DISCORD, str(STORIES))) is None


async def test_a_prewritten_part_is_posted_whole_when_the_vote_ends(
    make_bot: BotFactory, dc: FakeDiscord, clock: FakeClock, store: Store
) -> None:
    # The fake serves guild channels only: a channel story drafts the vote's leader.
    bot = await make_bot(prewrite=PrewriteMode.LEADER)
    dc.slash(ALICE, STORIES, "start", premise="A lighthouse keeper finds a map")
    message = await dc.wait_until(lambda: story(dc, 1))
    press = dc.click(ALICE, int(message["id"]), buttons(message)[0][1])
    assert await reply_to(dc, press) == "Vote counted: Path 1.1"

    async def leader_drafted() -> bool:
        part = (await store.live_segments(1))[-1]
        return [d.choice_index for d in await store.drafts(part.id)] == [0]

    for _ in range(500):  # the database is out of the fake's sight: look again
        if await leader_drafted():
            break
        await asyncio.sleep(0.02)
    await bot.engine.prewriting.wait_idle()
    before = len(dc.requests)
    await clock.advance(60)  # the window decides for the leader
    second = await dc.wait_until(lambda: story(dc, 2))

    # The leader's draft (the fake's second reply; written anew it would be "Part 3.")
    # replaces the "writing…" placeholder in one edit: the whole text with its buttons,
    # no partial narration before it and no edit after it.
    newest = (await store.live_segments(1))[-1]
    narration = newest.narration
    # The part opens with its vote's window running (issue 16: an empty vote ends too).
    closes = int(newest.vote_closes_at or 0)
    vote_line = f"🗳 Voting is open until <t:{closes}:T> (<t:{closes}:R>)"
    assert description(second) == f"{narration}\n\n{vote_line}"
    assert narration.startswith("Part 2. Mara the wanderer")
    assert [label for label, _ in buttons(second)] == [
        "Path 2.1",
        "Path 2.2",
        "Path 2.3",
        OWN,
        REROLL,
    ]
    shown = [body for _, _, body in dc.requests[before:] if "Part 2." in json.dumps(body)]
    assert len(shown) == 1
    assert len(dc.edit_times[int(second["id"])]) == 1
    assert bot.engine.prewriting.figures.hits == 1
    assert bot.engine.prewriting.figures.misses == 0
    assert dc.errors == []


async def test_a_short_story_where_anyone_chooses_reaches_its_ending(
    make_bot: BotFactory, dc: FakeDiscord, store: Store
) -> None:
    """Issue 16 through the gateway: `/story start length:short mode:anyone`, the first
    press decides, "end the story here" near the end, a real ending, "The end"."""
    await make_bot()
    started = dc.slash(ALICE, STORIES, "start", length="short", mode="anyone")
    assert await reply_to(dc, started) == "📖 **Alice** — The story begins…"
    end = "🏁 End the story here"
    for part in range(1, 8):
        message = await dc.wait_until(lambda p=part: story(dc, p))
        choices = [(label, c) for label, c in buttons(message) if c.startswith("sc:c:")]
        assert (end in [label for label, _ in choices]) is (part == 7)
        label, custom_id = choices[-1 if part == 7 else 0]
        shown = copy.deepcopy(message)  # as the presser's client shows it
        press = dc.click(BOB if part % 2 else CAROL, int(message["id"]), custom_id)
        assert await reply_to(dc, press) == f"Chosen: {label}"  # no vote: the press decides
    offered = shown

    the_end = await dc.wait_until(
        lambda: next(
            (m for m in dc.messages.values() if "🏁 The end." in (m.get("content") or "")), None
        )
    )
    assert "8 parts" in the_end["content"]
    assert "/story book" in the_end["content"]
    ending = await dc.wait_until(
        lambda: next(
            (m for m in dc.story_messages(STORIES) if description(m).startswith("Part 8.")), None
        )
    )
    assert not [c for _, c in buttons(ending) if c.startswith("sc:c:")]
    assert await store.live_session(ChannelKey(Platform.DISCORD, str(STORIES))) is None

    stale = dc.click(ALICE, int(offered["id"]), custom_id, seen=offered)  # an old client copy
    assert await reply_to(dc, stale) == "This story has ended."
    assert is_ephemeral(dc, stale)


async def test_the_starter_rerolls_the_choices_on_the_same_message(
    make_bot: BotFactory, dc: FakeDiscord, fake_ollama: FakeOllama
) -> None:
    await make_bot()
    dc.slash(ALICE, STORIES, "start")
    message = await dc.wait_until(lambda: story(dc, 1))
    reroll = next(c for label, c in buttons(message) if label == REROLL)
    assert reroll.startswith("sc:o:")
    narration = description(message)

    refused = dc.click(BOB, int(message["id"]), reroll)
    assert await reply_to(dc, refused) == (
        "Only the person who started the story or a moderator can do that."
    )
    assert is_ephemeral(dc, refused)
    asked = dc.click(ALICE, int(message["id"]), reroll)
    assert await reply_to(dc, asked) == "The narrator is thinking of other choices…"

    rerolled = await dc.wait_until(
        lambda: (
            "Another path 1" in [label for label, _ in buttons(dc.messages[int(message["id"])])]
            and dc.messages[int(message["id"])]
        )
    )
    assert [label for label, _ in buttons(rerolled)] == [
        "Another path 1",
        "Another path 2",
        "Another path 3",
        OWN,
        REROLL,
    ]
    assert description(rerolled).startswith(narration.split("\n\n")[0])
    assert len(fake_ollama.chat_requests("choices")) == 1
    assert dc.errors == []


async def test_settings_choose_a_picture_style_and_which_parts_get_a_picture(
    make_bot: BotFactory, dc: FakeDiscord, store: Store
) -> None:
    await make_bot(workflows=("sd15", "sdxl", "fantasy", "horror"))
    dc.slash(ALICE, STORIES, "start")
    await dc.wait_until(lambda: story(dc, 1))
    chosen = dc.slash(ALICE, STORIES, "settings", workflow="horror", illustrate="scene_change")
    assert (await reply_to(dc, chosen)).startswith("Story settings:")
    session = await store.get_session(1)
    assert session is not None
    assert session.settings.illustrate is IllustrateMode.SCENE_CHANGE
    assert (session.settings.style, session.settings.workflow) == ("horror", "")
