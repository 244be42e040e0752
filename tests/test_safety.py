"""Blocked patterns per place and limits on abuse, through the engine on both backends:
refusals never repeat the word, say when to try again, and survive a restart."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from storycraft_bot.core import events as ev
from storycraft_bot.core.blocklist import compile_pattern
from storycraft_bot.core.engine import StoryEngine
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.limits import AbuseLimits
from storycraft_bot.core.models import Actor, ChannelKey, Language, Place, Platform, Segment
from storycraft_bot.core.safety_store import LimitedAction
from storycraft_bot.core.texts import Msg, Wait, text
from storycraft_bot.storage.sqlite import Store
from tests.conftest import GROUP, PRIVATE, EngineFactory, StoreFactory
from tests.fakes import FakeClock, RecordingView

ALICE = Actor("u1", "Alice")
ADMIN = Actor("u9", "Admin", can_moderate=True)
OWNER = Actor("u8", "Owner", can_manage_guild=True)
OTHER_CHAT = Place(ChannelKey(Platform.TELEGRAM, "1002"), guild_id="tg:1002", is_group=False)


async def opened_segment(view: RecordingView, count: int = 1) -> Segment:
    return (await view.wait_for(ev.SegmentFinished, count=count)).segment


async def refusal(work: object) -> StoryActionError:
    with pytest.raises(StoryActionError) as refused:
        await work  # type: ignore[misc]
    return refused.value


# Patterns


@pytest.mark.parametrize(
    ("pattern", "typed", "blocked"),
    [
        ("дракон", "И тут Дракон напал!", True),
        ("дракон", "драконы летят", False),  # whole words only
        ("ёж", "Маленький ЕЖ", True),  # е and ё alike, any case
        ("red dragon", "a RED   dragon appears", True),
        ("cat", "concatenate", False),
        ("/b[a4]d+/", "so BA4D", False),
        ("/b[a4]d+/", "so b4ddd", True),
        ("/(?P<x>ab)c+/", "abccc", True),
        ("/(?i:foo)\\s*bar/", "FOO bar", True),
        ("/a{1,20}b{1,20}c/", "xaabbbc", True),
        ("/dra?gon.*fire/", "dragon breathes fire", True),
    ],
)
def test_words_match_whole_and_any_case_regexes_as_written(
    pattern: str, typed: str, blocked: bool
) -> None:
    assert bool(compile_pattern(pattern).search(typed)) is blocked


@pytest.mark.parametrize(
    ("pattern", "code"),
    [
        ("/(a/", Msg.PATTERN_BAD_REGEX),
        ("/a)/", Msg.PATTERN_BAD_REGEX),
        ("/(a+)+$/", Msg.PATTERN_TOO_COMPLEX),  # catastrophic backtracking
        ("/(a|aa)*b/", Msg.PATTERN_TOO_COMPLEX),
        ("/(?:x*y)+/", Msg.PATTERN_TOO_COMPLEX),
        ("/.*.*=.*/", Msg.PATTERN_TOO_COMPLEX),
        ("/(a)\\1/", Msg.PATTERN_TOO_COMPLEX),
        ("/(?P<a>x)(?P=a)/", Msg.PATTERN_TOO_COMPLEX),
        ("/a{1,1000}/", Msg.PATTERN_TOO_COMPLEX),
        ("/.*a.{0,20}a.{0,20}b/", Msg.PATTERN_TOO_COMPLEX),  # slow on long text
        ("/[a-z]+@[a-z]+/", Msg.PATTERN_TOO_COMPLEX),
        ("/a+.?b?c/", Msg.PATTERN_TOO_COMPLEX),
        ("/a{1,20}b{1,20}c?/", Msg.PATTERN_TOO_COMPLEX),
        ("/x?/", Msg.PATTERN_MATCHES_EMPTY),  # would refuse everything
        ("/^/", Msg.PATTERN_MATCHES_EMPTY),
        ("x" * 101, Msg.PATTERN_TOO_LONG),
    ],
)
def test_unsafe_or_broken_patterns_are_refused_with_the_reason(pattern: str, code: Msg) -> None:
    with pytest.raises(StoryActionError) as refused:
        compile_pattern(pattern)
    assert refused.value.code is code
    if code is Msg.PATTERN_BAD_REGEX:
        assert refused.value.params["reason"]  # the regex engine's own words


async def test_administrators_manage_the_list_and_others_are_refused(
    engine: StoryEngine, clock: FakeClock
) -> None:
    blocklist = engine.safety.blocklist
    assert (await refusal(blocklist.add(GROUP, ALICE, "dragon"))).code is Msg.NOT_ALLOWED_PATTERNS
    assert (await refusal(blocklist.patterns(GROUP, ALICE))).code is Msg.NOT_ALLOWED_PATTERNS

    assert await blocklist.add(GROUP, ADMIN, "  Red\tDragon ") == "red dragon"
    await clock.advance(1)  # listed oldest first
    assert await blocklist.add(GROUP, OWNER, "/b[a4]d/") == "/b[a4]d/"
    assert (await refusal(blocklist.add(GROUP, ADMIN, "RED dragon"))).code is Msg.PATTERN_EXISTS
    bad = await refusal(blocklist.add(GROUP, ADMIN, "/(x+)+/"))
    assert bad.code is Msg.PATTERN_TOO_COMPLEX
    assert [p.pattern for p in await blocklist.patterns(GROUP, ADMIN)] == [
        "red dragon",
        "/b[a4]d/",
    ]
    # Another place keeps its own list.
    assert await blocklist.patterns(PRIVATE, ADMIN) == []

    assert (await refusal(blocklist.remove(GROUP, ALICE, "red dragon"))).code is (
        Msg.NOT_ALLOWED_PATTERNS
    )
    assert await blocklist.remove(GROUP, ADMIN, "Red Dragon") == "red dragon"
    assert (await refusal(blocklist.remove(GROUP, ADMIN, "red dragon"))).code is (
        Msg.PATTERN_UNKNOWN
    )
    assert [p.pattern for p in await blocklist.patterns(GROUP, OWNER)] == ["/b[a4]d/"]


async def test_a_blocked_premise_is_refused_unrepeated_logged_and_kept_after_a_restart(
    make_engine: EngineFactory,
    make_store: StoreFactory,
    store: Store,
    view: RecordingView,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "storycraft_bot.core")
    engine = make_engine(store)
    await engine.safety.blocklist.add(PRIVATE, ADMIN, "дракон")
    # A zero-width space inside the word does not hide it.
    refused = await refusal(engine.start(PRIVATE, ALICE, premise="Злой д\u200bракон"))
    assert refused.code is Msg.TEXT_BLOCKED
    assert refused.params == {}
    assert "дракон" not in text(Language.RU, refused.code, **refused.params)
    assert await store.live_session(PRIVATE.key) is None
    assert "u1" in caplog.text
    # Another place does not block it.
    await engine.start(OTHER_CHAT, ALICE, premise="Злой дракон")
    await engine.wait_idle()

    async with make_store() as reopened:
        again = make_engine(reopened)
        assert (await refusal(again.start(PRIVATE, ALICE, premise="ДРАКОН"))).code is (
            Msg.TEXT_BLOCKED
        )
        refusals = [row async for row in reopened.table_rows("moderation_refusals")]
        assert [(r["user_id"], r["reason"]) for r in refusals] == [
            ("u1", "blocked"),
            ("u1", "blocked"),
        ]
        await again.start(PRIVATE, ALICE, premise="Добрый рыцарь")
        await opened_segment(view, 2)
        await again.shutdown()


# Limits


async def test_a_start_cooldown_says_when_and_lets_through_after_a_restart_too(
    make_engine: EngineFactory, make_store: StoreFactory, store: Store, clock: FakeClock
) -> None:
    limits = AbuseLimits(start_cooldown_seconds=120)
    engine = make_engine(store, limits=limits)
    await engine.start(PRIVATE, ALICE)
    await engine.stop(PRIVATE, ALICE)
    await clock.advance(30)
    refused = await refusal(engine.start(OTHER_CHAT, ALICE))
    assert refused.code is Msg.START_COOLDOWN
    assert refused.params == {"wait": Wait(90)}
    assert text(Language.RU, refused.code, **refused.params).endswith("через 2 минуты.")
    # Someone else is not held back.
    await engine.start(OTHER_CHAT, ADMIN)
    await engine.shutdown()

    async with make_store() as reopened:
        again = make_engine(reopened, limits=limits)
        await clock.advance(60)
        refused = await refusal(again.start(PRIVATE, ALICE))
        assert refused.params == {"wait": Wait(30)}
        assert text(Language.EN, refused.code, **refused.params) == (
            "You can start a new story in 30 seconds."
        )
        await clock.advance(30)
        await again.start(PRIVATE, ALICE)
        await again.shutdown()


async def test_one_user_runs_at_most_the_capped_number_of_stories(
    make_engine: EngineFactory, store: Store
) -> None:
    engine = make_engine(store, limits=AbuseLimits(stories_per_user=1))
    await engine.start(PRIVATE, ALICE)
    refused = await refusal(engine.start(OTHER_CHAT, ALICE))
    assert refused.code is Msg.TOO_MANY_STORIES
    assert text(Language.EN, refused.code, **refused.params).startswith(
        "You are running 1 story at once"
    )
    assert await store.live_session(OTHER_CHAT.key) is None
    await engine.stop(PRIVATE, ALICE)
    await engine.start(OTHER_CHAT, ALICE)


async def test_retries_and_redraws_are_capped_per_part_and_presses_never(
    make_engine: EngineFactory, store: Store, view: RecordingView
) -> None:
    limits = AbuseLimits(retries_per_part=1, redraws_per_part=1, start_cooldown_seconds=999)
    engine = make_engine(store, limits=limits)
    await engine.start(PRIVATE, ALICE)
    await opened_segment(view)
    await engine.retry(PRIVATE, ALICE)
    await opened_segment(view, 2)
    refused = await refusal(engine.retry(PRIVATE, ALICE))
    assert refused.code is Msg.RETRY_LIMIT
    assert text(Language.RU, refused.code, **refused.params).startswith(
        "Эту часть уже переписывали 1 раз."
    )
    await engine.redraw(PRIVATE, ALICE)
    assert (await refusal(engine.redraw(PRIVATE, ALICE))).code is Msg.REDRAW_LIMIT
    # A moderator is held to the same cap (it spares the GPU, not anyone's pride).
    assert (await refusal(engine.retry(PRIVATE, replace(ADMIN)))).code is Msg.RETRY_LIMIT

    current = await store.current_segment((await engine.status(PRIVATE)).session.id)
    assert current is not None
    await engine.press(PRIVATE, ALICE, current.id, 0)  # presses are never limited
    await opened_segment(view, 3)
    await engine.retry(PRIVATE, ALICE)  # the next part may be rewritten again
    await opened_segment(view, 4)
    await engine.redraw(PRIVATE, ALICE)


async def test_own_actions_have_their_own_cooldown_and_typed_text_check(
    make_engine: EngineFactory, store: Store, clock: FakeClock
) -> None:
    # What the own-action feature calls: the same check as premises, and its cooldown.
    engine = make_engine(store, limits=AbuseLimits(own_action_cooldown_seconds=20))
    safety = engine.safety
    await safety.blocklist.add(GROUP, ADMIN, "/sw[o0]rd/")
    assert await safety.check_typed(GROUP, ALICE, " I\x00 open\tthe door ", 200) == (
        "I open the door"
    )
    blocked = await refusal(safety.check_typed(GROUP, ALICE, "I draw my SW0RD", 200))
    assert blocked.code is Msg.TEXT_BLOCKED
    long = await refusal(safety.check_typed(GROUP, ALICE, "y" * 201, 200))
    assert long.code is Msg.PREMISE_TOO_LONG
    refusals = [(r["user_id"], r["reason"]) async for r in store.table_rows("moderation_refusals")]
    assert refusals == [("u1", "blocked"), ("u1", "too_long")]

    await safety.limits.take(GROUP, ALICE, LimitedAction.OWN_ACTION)
    await clock.advance(5)
    cooled = await refusal(safety.limits.take(GROUP, ALICE, LimitedAction.OWN_ACTION))
    assert cooled.code is Msg.OWN_ACTION_COOLDOWN
    assert text(Language.RU, cooled.code, **cooled.params) == (
        "Своё действие можно предложить через 15 секунд."
    )
    await safety.limits.take(GROUP, ADMIN, LimitedAction.OWN_ACTION)  # per user
    await safety.limits.take(GROUP, ALICE, LimitedAction.START)  # starts are off here
    await clock.advance(15)
    await safety.limits.take(GROUP, ALICE, LimitedAction.OWN_ACTION)
