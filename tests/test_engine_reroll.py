"""Re-rolling a part's choices (issue 16): the narration stays, one small bounded
request asks for new choices, the same part shows them; stale or unentitled presses are
refused and change nothing."""

from __future__ import annotations

import pytest

from storycraft_bot.core import events as ev
from storycraft_bot.core.engine import PressKind, StoryEngine
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.models import Actor, Segment, StoryLength
from storycraft_bot.storage.sqlite import Store
from tests.conftest import GROUP, PRIVATE
from tests.fake_ollama import FakeOllama, Reply
from tests.fakes import FakeClock, RecordingView

ALICE = Actor("u1", "Alice")
BOB = Actor("u2", "Bob")
MOD = Actor("u9", "Mod", can_moderate=True)
NEW = ("Another path 1", "Another path 2", "Another path 3")


async def opened(view: RecordingView, count: int = 1) -> Segment:
    return (await view.wait_for(ev.SegmentFinished, count=count)).segment


async def test_new_choices_keep_the_narration_in_one_small_request(
    engine: StoryEngine, view: RecordingView, fake_ollama: FakeOllama, store: Store
) -> None:
    await engine.start(PRIVATE, ALICE)
    part = await opened(view)
    await engine.wait_idle()
    segment_requests = len(fake_ollama.chat_requests("segment"))

    await engine.reroll(PRIVATE, ALICE, segment_id=part.id)
    rerolled = await opened(view, 2)
    await engine.wait_idle()

    assert (rerolled.id, rerolled.narration) == (part.id, part.narration)
    assert rerolled.choices == NEW
    assert len(fake_ollama.chat_requests("segment")) == segment_requests  # no part rewritten
    [asked] = fake_ollama.chat_requests("choices")
    choices = asked["format"]["properties"]["choices"]
    assert (choices["minItems"], choices["maxItems"]) == (3, 3)
    assert choices["items"]["maxLength"] == 80
    assert asked["options"]["num_predict"] < 200
    assert asked["messages"][-2] == {"role": "assistant", "content": part.narration}
    assert "Path 1.1" in asked["messages"][-1]["content"]  # the old ones, to avoid
    stored = await store.get_segment(part.id)
    assert stored is not None
    assert stored.choices == NEW

    outcome = await engine.press(PRIVATE, ALICE, part.id, 1)
    assert outcome.kind is PressKind.DECIDED
    assert outcome.choice_text == "Another path 2"


async def test_only_the_starter_or_a_moderator_rerolls_and_stale_presses_change_nothing(
    engine: StoryEngine, view: RecordingView, fake_ollama: FakeOllama, clock: FakeClock
) -> None:
    await engine.start(GROUP, ALICE)
    part = await opened(view)
    with pytest.raises(StoryActionError, match="not_allowed"):
        await engine.reroll(GROUP, BOB, segment_id=part.id)
    for forged in (part.id + 1, 999_999):
        with pytest.raises(StoryActionError, match="part_over"):
            await engine.reroll(GROUP, ALICE, segment_id=forged)
    assert fake_ollama.chat_requests("choices") == []

    await engine.press(GROUP, BOB, part.id, 0)
    await engine.reroll(GROUP, MOD, segment_id=part.id)
    rerolled = await opened(view, 2)
    await engine.wait_idle()
    assert rerolled.choices == NEW
    tally = view.of(ev.VotesChanged)[-1].tally
    assert tally.counts == (1, 0, 0)  # Bob's vote was for the old choices…
    outcome = await engine.press(GROUP, BOB, part.id, 2)
    assert outcome.tally is not None
    assert outcome.tally.counts == (0, 0, 1)  # …and is gone: this is a first vote again
    await clock.advance(60)
    decided = await view.wait_for(ev.ChoiceDecided)
    assert decided.choice_text == "Another path 3"
    with pytest.raises(StoryActionError, match="part_over"):  # the part is decided now
        await engine.reroll(GROUP, ALICE, segment_id=part.id)


async def test_a_reroll_keeps_the_end_choice_and_a_bad_reply_keeps_the_old_choices(
    engine: StoryEngine, view: RecordingView, fake_ollama: FakeOllama
) -> None:
    await engine.start(PRIVATE, ALICE, length=StoryLength.SHORT)
    part = await opened(view)
    for count in range(2, 8):
        await engine.press(PRIVATE, ALICE, part.id, 0)
        part = await opened(view, count)
    await engine.wait_idle()
    assert part.choices[-1] == "🏁 End the story here"

    await engine.reroll(PRIVATE, ALICE, segment_id=part.id)
    rerolled = await opened(view, 8)
    assert rerolled.choices == (*NEW, "🏁 End the story here")
    asked = fake_ollama.chat_requests("choices")[-1]
    assert "End the story here" not in asked["messages"][-1]["content"]

    fake_ollama.then(Reply(content='{"choices": ["", ""]}'))
    await engine.reroll(PRIVATE, ALICE, segment_id=part.id)
    failed = await view.wait_for(ev.Notice)
    assert failed.code.value == "reroll_failed"
    await engine.wait_idle()
    assert len(view.of(ev.SegmentFinished)) == 8  # nothing changed on screen
