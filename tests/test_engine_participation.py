"""Who chooses in a group (issue 16): only the starter, the first press, or a timed vote
whose empty window is extended once and then decided by the story's rule."""

from __future__ import annotations

import pytest

from storycraft_bot.core import events as ev
from storycraft_bot.core.engine import PressKind, StoryEngine
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.models import (
    Actor,
    DecidedBy,
    Language,
    NoVoteRule,
    Participation,
    Segment,
    SegmentState,
)
from storycraft_bot.core.texts import Msg, decision_text, status_text
from storycraft_bot.storage.sqlite import Store
from tests.conftest import GROUP, EngineFactory
from tests.fakes import FakeClock, RecordingView

ALICE = Actor("u1", "Alice")  # the starter
BOB = Actor("u2", "Bob")
CAROL = Actor("u3", "Carol")
MOD = Actor("u9", "Mod", can_moderate=True)


async def first_part(
    engine: StoryEngine, view: RecordingView, mode: Participation | None = None
) -> Segment:
    await engine.start(GROUP, ALICE, participation=mode)
    return (await view.wait_for(ev.SegmentFinished)).segment


async def test_in_starter_mode_only_the_starter_chooses(
    engine: StoryEngine, view: RecordingView, store: Store
) -> None:
    part = await first_part(engine, view, Participation.STARTER)

    for other in (BOB, MOD):
        with pytest.raises(StoryActionError, match=Msg.STARTER_CHOOSES.value):
            await engine.press(GROUP, other, part.id, 1)
    assert (await store.tally(part)).voters == 0
    assert not view.of(ev.ChoiceDecided)
    outcome = await engine.press(GROUP, ALICE, part.id, 2)

    assert outcome.kind is PressKind.DECIDED
    decided = await view.wait_for(ev.ChoiceDecided)
    assert (decided.choice_index, decided.decided_by) == (2, DecidedBy.PRESS)


async def test_in_anyone_mode_the_first_press_decides(
    engine: StoryEngine, view: RecordingView
) -> None:
    part = await first_part(engine, view, Participation.ANYONE)
    assert part.vote_closes_at is None  # no vote window in this mode

    outcome = await engine.press(GROUP, BOB, part.id, 1)
    assert outcome.kind is PressKind.DECIDED
    with pytest.raises(StoryActionError, match="part_over"):
        await engine.press(GROUP, CAROL, part.id, 0)
    decided = await view.wait_for(ev.ChoiceDecided)
    assert (decided.choice_index, decided.decided_by) == (1, DecidedBy.PRESS)


async def test_a_vote_nobody_joins_is_extended_once_then_decided_at_random(
    engine: StoryEngine, view: RecordingView, clock: FakeClock, store: Store
) -> None:
    part = await first_part(engine, view)  # a vote: the default in groups
    assert part.vote_closes_at == clock.now() + 60

    await clock.advance(60)
    extended = await view.wait_for(ev.Notice)
    assert extended.code is Msg.VOTE_EXTENDED
    assert not view.of(ev.ChoiceDecided)
    stored = await store.get_segment(part.id)
    assert stored is not None
    assert (stored.vote_extensions, stored.vote_closes_at) == (1, clock.now() + 60)

    await clock.advance(60)
    decided = await view.wait_for(ev.ChoiceDecided)
    assert decided.decided_by is DecidedBy.NO_VOTES
    assert decided.votes == 0
    assert "at random" in decision_text(Language.EN, decided.decided_by, "x", 0)


async def test_a_vote_in_the_extension_decides_as_usual(
    engine: StoryEngine, view: RecordingView, clock: FakeClock
) -> None:
    part = await first_part(engine, view)
    await clock.advance(60)
    await view.wait_for(ev.Notice)
    await clock.advance(10)

    outcome = await engine.press(GROUP, BOB, part.id, 2)
    assert outcome.tally is not None
    assert outcome.tally.closes_at == clock.now() + 60  # a full window from the first vote
    await clock.advance(59)
    assert not view.of(ev.ChoiceDecided)
    await clock.advance(1)
    decided = await view.wait_for(ev.ChoiceDecided)
    assert (decided.choice_index, decided.decided_by) == (2, DecidedBy.VOTE)


async def test_with_the_starter_rule_an_empty_vote_waits_for_the_starter(
    engine: StoryEngine, view: RecordingView, clock: FakeClock, store: Store
) -> None:
    part = await first_part(engine, view)
    await engine.configure(GROUP, ALICE, no_votes=NoVoteRule.STARTER)
    await clock.advance(60)
    await view.wait_for(ev.Notice)
    await clock.wait_for_sleepers()
    await clock.advance(60)
    notices = await view.wait_for(ev.Notice, count=2)
    assert notices.code is Msg.STARTER_DECIDES
    await clock.advance(600)
    assert not view.of(ev.ChoiceDecided)

    counted = await engine.press(GROUP, BOB, part.id, 0)
    assert counted.kind is PressKind.VOTE_COUNTED  # others still only vote
    outcome = await engine.press(GROUP, ALICE, part.id, 1)

    assert outcome.kind is PressKind.DECIDED
    decided = await view.wait_for(ev.ChoiceDecided)
    assert (decided.choice_index, decided.decided_by) == (1, DecidedBy.PRESS)


async def test_a_tie_says_it_was_broken_at_random(
    engine: StoryEngine, view: RecordingView, clock: FakeClock
) -> None:
    part = await first_part(engine, view)
    await engine.press(GROUP, BOB, part.id, 0)
    await engine.press(GROUP, CAROL, part.id, 1)
    await clock.advance(60)

    decided = await view.wait_for(ev.ChoiceDecided)
    assert decided.decided_by is DecidedBy.TIE
    line = decision_text(Language.EN, decided.decided_by, decided.choice_text, decided.votes)
    assert "tie broken at random" in line


async def test_the_mode_is_a_setting_only_its_managers_change(
    engine: StoryEngine, view: RecordingView, store: Store
) -> None:
    part = await first_part(engine, view)
    with pytest.raises(StoryActionError, match="not_allowed"):
        await engine.configure(GROUP, BOB, participation=Participation.ANYONE)

    settings = await engine.configure(GROUP, ALICE, participation=Participation.ANYONE)
    assert settings.participation is Participation.ANYONE
    outcome = await engine.press(GROUP, BOB, part.id, 0)
    assert outcome.kind is PressKind.DECIDED


async def test_modes_and_an_extended_vote_survive_a_restart(
    make_engine: EngineFactory, view: RecordingView, clock: FakeClock, store: Store
) -> None:
    before = make_engine(store)
    part = await first_part(before, view)
    await before.configure(GROUP, ALICE, no_votes=NoVoteRule.RANDOM)
    await clock.advance(60)
    await view.wait_for(ev.Notice)
    await before.shutdown()

    after = make_engine(store)
    await after.resume()
    await clock.advance(60)  # the extension ends on time after the restart
    decided = await view.wait_for(ev.ChoiceDecided)
    assert decided.decided_by is DecidedBy.NO_VOTES
    stored = await store.get_segment(part.id)
    assert stored is not None
    assert stored.state is SegmentState.DECIDED

    await after.wait_idle()
    starter_only = make_engine(store)
    await starter_only.configure(GROUP, ALICE, participation=Participation.STARTER)
    await after.shutdown()
    await starter_only.resume()
    second = (await view.wait_for(ev.SegmentFinished, count=2)).segment
    with pytest.raises(StoryActionError, match=Msg.STARTER_CHOOSES.value):
        await starter_only.press(GROUP, BOB, second.id, 0)


async def test_the_status_names_the_length_and_who_chooses(
    engine: StoryEngine, view: RecordingView
) -> None:
    await first_part(engine, view, Participation.STARTER)
    report = status_text(await engine.status(GROUP))
    assert " Length: Medium (about 15 parts). Who chooses: 👤 Starter. Rating: safe." in report


async def test_a_window_left_from_a_vote_decides_nothing_after_the_mode_changed(
    engine: StoryEngine, view: RecordingView, clock: FakeClock
) -> None:
    part = await first_part(engine, view)
    await engine.configure(GROUP, ALICE, participation=Participation.ANYONE)
    await clock.advance(120)
    assert not view.of(ev.Notice)
    assert not view.of(ev.ChoiceDecided)

    outcome = await engine.press(GROUP, CAROL, part.id, 0)
    assert outcome.kind is PressKind.DECIDED
