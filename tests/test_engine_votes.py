"""Group votes: one vote each, changeable, a window on the injected clock, fair ties."""

from __future__ import annotations

import asyncio
import random

import pytest

from storycraft_bot.core import events as ev
from storycraft_bot.core.engine import PressKind, StoryEngine
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.models import Actor, DecidedBy, Segment, SegmentState
from storycraft_bot.core.voting import pick_winner
from storycraft_bot.storage.sqlite import Store
from tests.conftest import GROUP, EngineFactory
from tests.fakes import FakeClock, RecordingView

ALICE = Actor("u1", "Alice")  # the starter
BOB = Actor("u2", "Bob")
CAROL = Actor("u3", "Carol")
DAVE = Actor("u4", "Dave")


async def first_segment(engine: StoryEngine, view: RecordingView) -> Segment:
    await engine.start(GROUP, ALICE)
    return (await view.wait_for(ev.SegmentFinished)).segment


async def test_votes_are_counted_live_and_the_window_decides(
    engine: StoryEngine, view: RecordingView, clock: FakeClock, store: Store
) -> None:
    segment = await first_segment(engine, view)

    first = await engine.press(GROUP, ALICE, segment.id, 0)
    assert first.kind is PressKind.VOTE_COUNTED
    assert first.tally is not None
    assert first.tally.closes_at == clock.now() + 60
    await engine.press(GROUP, BOB, segment.id, 1)
    await engine.press(GROUP, CAROL, segment.id, 1)
    assert [e.tally.counts for e in view.of(ev.VotesChanged)] == [(1, 0, 0), (1, 1, 0), (1, 2, 0)]

    await clock.advance(59)
    assert not view.of(ev.ChoiceDecided)  # the window is still open
    await clock.advance(1)
    decided = await view.wait_for(ev.ChoiceDecided)

    assert (decided.choice_index, decided.decided_by, decided.votes) == (1, DecidedBy.VOTE, 2)
    stored = await store.get_segment(segment.id)
    assert stored is not None
    assert stored.state is SegmentState.DECIDED
    assert (await view.wait_for(ev.SegmentFinished, count=2)).segment.index == 1


async def test_a_member_can_change_a_vote_but_not_vote_twice(
    engine: StoryEngine, view: RecordingView, clock: FakeClock
) -> None:
    segment = await first_segment(engine, view)

    await engine.press(GROUP, BOB, segment.id, 0)
    again = await engine.press(GROUP, BOB, segment.id, 0)
    changed = await engine.press(GROUP, BOB, segment.id, 2)

    assert again.kind is PressKind.VOTE_SAME
    assert changed.kind is PressKind.VOTE_CHANGED
    assert changed.tally is not None
    assert changed.tally.counts == (0, 0, 1)
    assert changed.tally.voters == 1
    assert len(view.of(ev.VotesChanged)) == 2  # the repeated vote changed nothing
    await clock.advance(60)
    decided = await view.wait_for(ev.ChoiceDecided)
    assert decided.choice_index == 2


@pytest.mark.parametrize("seed", range(6))
async def test_a_tie_is_broken_at_random_among_the_leaders(
    make_engine: EngineFactory, store: Store, view: RecordingView, clock: FakeClock, seed: int
) -> None:
    engine = make_engine(store, seed=seed)
    segment = await first_segment(engine, view)
    await engine.press(GROUP, ALICE, segment.id, 0)
    await engine.press(GROUP, BOB, segment.id, 2)

    await clock.advance(60)
    decided = await view.wait_for(ev.ChoiceDecided)

    assert decided.decided_by is DecidedBy.TIE
    assert decided.choice_index in (0, 2)
    assert decided.votes == 1


def test_tie_breaks_are_fair() -> None:
    rng = random.Random(42)
    wins = [pick_winner([2, 0, 2], rng).choice_index for _ in range(3000)]  # type: ignore[union-attr]
    assert set(wins) == {0, 2}
    assert 1300 < wins.count(0) < 1700


def test_no_votes_no_winner() -> None:
    assert pick_winner([0, 0, 0], random.Random(1)) is None


async def test_the_starter_can_close_the_vote_early(
    engine: StoryEngine, view: RecordingView, clock: FakeClock
) -> None:
    segment = await first_segment(engine, view)
    with pytest.raises(StoryActionError, match="no_votes_yet"):
        await engine.close_vote(GROUP, ALICE)
    await engine.press(GROUP, BOB, segment.id, 1)

    with pytest.raises(StoryActionError, match="not_allowed"):
        await engine.close_vote(GROUP, BOB)
    await engine.close_vote(GROUP, ALICE)

    decided = await view.wait_for(ev.ChoiceDecided)
    assert (decided.choice_index, decided.decided_by) == (1, DecidedBy.CLOSED_EARLY)
    await clock.advance(120)  # the old window's timer must not decide a second time
    assert len(view.of(ev.ChoiceDecided)) == 1


async def test_simultaneous_votes_all_count_and_decide_once(
    engine: StoryEngine, view: RecordingView, clock: FakeClock, store: Store
) -> None:
    segment = await first_segment(engine, view)
    voters = [Actor(f"v{i}", f"Voter {i}") for i in range(12)]

    await asyncio.gather(*(engine.press(GROUP, v, segment.id, i % 3) for i, v in enumerate(voters)))
    tally = await store.tally(segment)
    assert tally.counts == (4, 4, 4)

    await clock.advance(60)
    await view.wait_for(ev.SegmentFinished, count=2)
    await engine.wait_idle()
    assert len(view.of(ev.ChoiceDecided)) == 1
    assert len(await store.live_segments(segment.session_id)) == 2


async def test_a_vote_after_the_window_closed_is_refused(
    engine: StoryEngine, view: RecordingView, clock: FakeClock
) -> None:
    segment = await first_segment(engine, view)
    await engine.press(GROUP, BOB, segment.id, 0)
    await clock.advance(60)
    await view.wait_for(ev.ChoiceDecided)

    with pytest.raises(StoryActionError, match="part_over"):
        await engine.press(GROUP, CAROL, segment.id, 1)


async def test_a_vote_survives_a_restart_and_its_window_still_ends(
    make_engine: EngineFactory, view: RecordingView, clock: FakeClock, store: Store
) -> None:
    before = make_engine(store)
    segment = await first_segment(before, view)
    await before.press(GROUP, BOB, segment.id, 2)
    await clock.advance(30)
    await before.shutdown()

    after = make_engine(store)
    await after.resume()
    await after.press(GROUP, CAROL, segment.id, 2)  # a button from before the restart
    await clock.advance(30)  # the original window ends on time
    decided = await view.wait_for(ev.ChoiceDecided)

    assert decided.choice_index == 2
    assert decided.votes == 2


async def test_undo_in_a_group_clears_the_old_votes(
    engine: StoryEngine, view: RecordingView, clock: FakeClock, store: Store
) -> None:
    segment = await first_segment(engine, view)
    await engine.press(GROUP, BOB, segment.id, 1)
    await clock.advance(60)
    await view.wait_for(ev.SegmentFinished, count=2)

    reopened = await engine.undo(GROUP, ALICE)

    assert reopened.vote_closes_at is None
    assert (await store.tally(reopened)).voters == 0
    outcome = await engine.press(GROUP, DAVE, segment.id, 0)
    assert outcome.tally is not None
    assert outcome.tally.counts == (1, 0, 0)


async def test_a_moderator_may_stop_someone_elses_story(
    engine: StoryEngine, view: RecordingView
) -> None:
    await first_segment(engine, view)
    with pytest.raises(StoryActionError, match="not_allowed"):
        await engine.stop(GROUP, BOB)
    await engine.stop(GROUP, Actor("m", "Mod", can_moderate=True))
    assert view.of(ev.StoryStopped)


async def test_the_vote_window_is_a_setting(
    engine: StoryEngine, view: RecordingView, clock: FakeClock
) -> None:
    segment = await first_segment(engine, view)
    settings = await engine.configure(GROUP, ALICE, vote_window_seconds=15)
    assert settings.vote_window_seconds == 15

    outcome = await engine.press(GROUP, BOB, segment.id, 0)
    assert outcome.tally is not None
    assert outcome.tally.closes_at == clock.now() + 15
    await clock.advance(15)
    await view.wait_for(ev.ChoiceDecided)
