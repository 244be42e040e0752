"""Who draws each picture, between processes on one real PostgreSQL (each process played
by its own PostgresCoordination on the fake clock): a live drawer's picture is left to
it, one whose drawer died is taken over by exactly one process, and a claim is lost once
its part is retried or its story stopped, or another process redraws the picture."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace

from storycraft_bot.core.coordination import LocalCoordination
from storycraft_bot.core.models import (
    Actor,
    ChannelKey,
    ImageState,
    Language,
    Platform,
    SessionState,
    StorySettings,
)
from storycraft_bot.storage.postgres import PostgresStore
from tests.conftest import FLEET_LEASE as LEASE
from tests.conftest import GROUP, FleetPair

ALICE = Actor("u1", "Alice")
NOW = 1_800_000_000.0
CHANNELS = itertools.count(1)


async def picture_wanted(store: PostgresStore, state: ImageState = ImageState.QUEUED) -> int:
    """An open part of a new story whose picture is in `state`; its id."""
    place = replace(GROUP, key=ChannelKey(Platform.DISCORD, f"p{next(CHANNELS)}"))
    session = await store.create_session(
        place, ALICE, Language.EN, "fantasy", "", StorySettings(), NOW
    )
    segment = await store.add_segment(session.id, 0, "", NOW)
    async with store.pool.connection() as conn:
        await conn.execute("UPDATE segments SET state = 'open' WHERE id = %s", (segment.id,))
    await store.set_image_state(segment.id, state)
    return segment.id


async def test_a_live_drawers_picture_is_left_to_it_and_a_dead_ones_taken_over_once(
    fleet_db: tuple[str, PostgresStore],
    pair: FleetPair,
) -> None:
    _, store = fleet_db
    first, second = pair
    segment = await picture_wanted(store)
    assert await first.hold_picture(segment, NOW, take=False)

    # A process starting beside the first recovers it as backlog: not while it is live.
    assert not await second.hold_picture(segment, NOW + 1, take=False)
    assert await first.renew_pictures([segment], NOW + LEASE - 1) == [segment]
    assert await second.claim_orphaned_pictures(NOW + LEASE + 1) == []

    later = NOW + 2 * LEASE  # the first process stopped renewing: it died
    claimed = await asyncio.gather(
        first.claim_orphaned_pictures(later), second.claim_orphaned_pictures(later)
    )
    assert sorted(claimed[0] + claimed[1]) == [segment]
    winner, loser = (first, second) if claimed[0] else (second, first)
    assert await winner.hold_picture(segment, later, take=False)  # its own claim
    assert await loser.renew_pictures([segment], later) == []
    assert await winner.claim_orphaned_pictures(later + 1) == []  # claimed once

    await winner.release_picture(segment)  # drawn: nothing left to take over
    assert await loser.claim_orphaned_pictures(later + 3 * LEASE) == []


async def test_only_pictures_still_wanted_are_taken_over(
    fleet_db: tuple[str, PostgresStore],
    pair: FleetPair,
) -> None:
    _, store = fleet_db
    first, second = pair
    drawing = await picture_wanted(store, ImageState.DRAWING)
    prompting = await picture_wanted(store, ImageState.NONE)  # its prompt was being written
    ready = await picture_wanted(store, ImageState.QUEUED)
    stopped = await picture_wanted(store, ImageState.QUEUED)
    for segment in (drawing, prompting, ready, stopped):
        assert await first.hold_picture(segment, NOW, take=False)
    await picture_wanted(store, ImageState.NONE)  # nobody asked for its picture: no claim
    await store.set_image_state(ready, ImageState.READY)  # drawn just before the end
    stopped_segment = await store.get_segment(stopped)
    assert stopped_segment is not None
    await store.set_session_state(stopped_segment.session_id, SessionState.STOPPED, NOW)

    taken = await second.claim_orphaned_pictures(NOW + LEASE + 1)
    assert sorted(taken) == [drawing, prompting]


async def test_a_claim_is_lost_when_the_part_is_retried_the_story_stopped_or_redrawn_elsewhere(
    fleet_db: tuple[str, PostgresStore],
    pair: FleetPair,
) -> None:
    _, store = fleet_db
    first, second = pair
    retried, stopped, redrawn, kept, ending = [await picture_wanted(store) for _ in range(5)]
    for segment in (retried, stopped, redrawn, kept, ending):
        assert await first.hold_picture(segment, NOW, take=False)
    last = await store.get_segment(ending)
    assert last is not None
    await store.end_session(last.session_id, NOW + 1)  # its ending's picture still counts

    cut = await store.get_segment(retried)
    assert cut is not None
    await store.replace_segment(cut, NOW + 1)  # a retry at the second process
    stopped_segment = await store.get_segment(stopped)
    assert stopped_segment is not None
    await store.set_session_state(stopped_segment.session_id, SessionState.STOPPED, NOW + 1)
    assert await second.hold_picture(redrawn, NOW + 1, take=True)  # a redraw decided there

    renewed = await first.renew_pictures([retried, stopped, redrawn, kept, ending], NOW + 2)
    assert sorted(renewed) == [kept, ending]
    assert await second.renew_pictures([redrawn], NOW + 2) == [redrawn]


async def test_one_process_alone_draws_every_picture_and_takes_none_over() -> None:
    local = LocalCoordination()

    assert await local.hold_picture(1, NOW, take=False)
    assert await local.renew_pictures([1, 2], NOW) == [1, 2]
    assert await local.claim_orphaned_pictures(NOW) == []
    await local.release_picture(1)


async def test_one_process_drafts_an_open_part_until_it_is_decided(
    fleet_db: tuple[str, PostgresStore],
    pair: FleetPair,
) -> None:
    _, store = fleet_db
    first, second = pair
    segment = await picture_wanted(store)  # an open part

    assert await first.hold_draft(segment, NOW)
    assert not await second.hold_draft(segment, NOW + 1)
    assert await first.renew_draft(segment, NOW + LEASE - 1)
    assert await second.hold_draft(segment, NOW + 2 * LEASE)  # the first one died
    assert not await first.renew_draft(segment, NOW + 2 * LEASE)
    async with store.pool.connection() as conn:
        await conn.execute("UPDATE segments SET state = 'decided' WHERE id = %s", (segment,))
    assert not await second.renew_draft(segment, NOW + 2 * LEASE + 1)  # drafts not wanted
    await second.release_draft(segment)
    assert await first.hold_draft(segment, NOW + 2 * LEASE + 2)
    assert await LocalCoordination().hold_draft(segment, NOW)
