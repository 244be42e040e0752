"""Discord: with pictures only on a change of scene (issue 16), a part in the same scene
gets no picture and its message never says anything about pictures; through the real
discord.py against the fake Discord, the fake Ollama and the fake ComfyUI."""

from __future__ import annotations

import json

from tests.fake_comfyui import FakeComfyUI
from tests.fake_discord import FakeDiscord
from tests.fake_ollama import FakeOllama, Reply
from tests.test_discord import (
    ALICE,
    STORIES,
    BotFactory,
    buttons,
    dc,
    make_bot,
    reply_to,
    story,
)

__all__ = ["dc", "make_bot"]  # the fixtures, shared with the Discord tests

PICTURE_NEWS = ("Picture queued", "Drawing…")


async def test_a_part_in_the_same_scene_says_nothing_about_pictures(
    make_bot: BotFactory, dc: FakeDiscord, fake_comfy: FakeComfyUI, fake_ollama: FakeOllama
) -> None:
    bot = await make_bot(comfy=fake_comfy)
    dc.slash(ALICE, STORIES, "start", mode="anyone")  # a press decides, no vote window
    first = await dc.wait_until(lambda: (m := story(dc, 1)) and m["attachments"] and m)
    chosen = dc.slash(ALICE, STORIES, "settings", illustrate="scene_change")
    assert (await reply_to(dc, chosen)).startswith("Story settings:")
    same_scene = {
        "narration": "Part 2. The fog stays where it was, and so do you.",
        "choices": ["Wait", "Walk", "Call out"],
        "scene": "a misty crossroads",
        "new_scene": False,
    }
    fake_ollama.then(Reply(content=json.dumps(same_scene)))

    dc.click(ALICE, int(first["id"]), buttons(first)[0][1])
    second = await dc.wait_until(lambda: story(dc, 2))
    await bot.engine.wait_idle()
    # The next part changes the scene: once its picture is shown, any of part 2's would be.
    changed = {**same_scene, "narration": "Part 3. A tower.", "new_scene": True}
    fake_ollama.then(Reply(content=json.dumps(changed)))
    dc.click(ALICE, int(second["id"]), buttons(second)[0][1])
    await dc.wait_until(lambda: (m := story(dc, 3)) and m["attachments"] and m)

    second = dc.messages[int(second["id"])]
    assert second["attachments"] == []
    sent = [
        json.dumps(body, ensure_ascii=False)
        for _, path, body in dc.requests
        if path.endswith(f"/messages/{second['id']}")
    ]
    assert sent  # the part's message was edited as it grew
    assert not any(news in body for body in sent for news in PICTURE_NEWS)
    assert len(fake_comfy.posted_prompts()) == 2  # parts 1 and 3
    assert dc.errors == []
