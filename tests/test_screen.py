"""The shared screen outline, once for every platform, through a recording platform:
a real implementation of the Screen hooks that keeps what it was asked to do."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest

from adapters.buttons import Button, ButtonKind, decode, encode
from adapters.commands import ACTIONS, MODERATED, Command, ReplyKind, answer, parse_command, perform
from adapters.screen import Fault, Screen, Shown, narration_pieces
from adapters.story_card import StoryCard, closes_in
from storycraft_bot.core import events as ev
from storycraft_bot.core.models import (
    Actor,
    ChannelKey,
    DecidedBy,
    ImageState,
    Language,
    MessageKind,
    MessageRef,
    Place,
    Platform,
    Segment,
    SegmentState,
)
from storycraft_bot.core.screen_records import ShownSegment
from storycraft_bot.core.texts import Msg, text
from tests.conftest import CoreFactory
from tests.fakes import FakeClock, no_escapes

KEY = ChannelKey(Platform.CONSOLE, "screen")
EN = Language.EN


class MemoryRecords:
    """ScreenRecords in memory: what a store would keep of the messages."""

    def __init__(self) -> None:
        self.segments: dict[int, Segment] = {}
        self.messages: dict[int, tuple[MessageRef, ...]] = {}

    async def shown_segment(self, segment_id: int, platform: Platform) -> ShownSegment | None:
        segment = self.segments.get(segment_id)
        if segment is None:
            return None
        return ShownSegment(segment, EN, False, self.messages.get(segment_id, ()), "")

    async def set_messages(self, segment_id: int, refs: Sequence[MessageRef]) -> None:
        self.messages[segment_id] = tuple(refs)

    async def set_image_upload(self, segment_id: int, platform: Platform, ref: str) -> None:
        pass


class Refused(Exception):
    """A platform error of the recording platform: what it means is given."""

    def __init__(self, fault: Fault, retry_after: float = 0.0) -> None:
        super().__init__(fault.name)
        self.fault, self.retry_after = fault, retry_after


class RecordingScreen(Screen[str]):
    """A platform whose messages are strings in a list; `refusals` are raised by the
    next edits, one each."""

    platform = Platform.CONSOLE

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.calls: list[tuple[str, int, str]] = []  # (what, message id, content)
        self.times: list[float] = []  # when each call was made, on the screen's clock
        self.posts: list[str] = []
        self.pictures: list[tuple[int, str]] = []
        self.refusals: list[Refused] = []
        self.refused: list[Refused] = []
        self.stripped: list[int] = []
        self.lost: list[ChannelKey] = []

    def edit_interval(self, card: StoryCard) -> float:
        return 1.0

    def layout(self, shown: Shown) -> list[str]:
        status = "\n".join(shown.card.status_lines(closes_in(self._clock)))
        pieces = narration_pieces(shown.card.narration, status, 50)
        pieces[-1] += " " + " ".join(encode(b) for b in _buttons(shown.card))
        return pieces

    def fingerprint(self, piece: str) -> str:
        return piece

    async def send(self, shown: Shown, piece: str, *, last: bool) -> int:
        message_id = len(self.calls) + 100
        self.calls.append(("send", message_id, piece))
        self.times.append(self._clock.now())
        return message_id

    async def edit(self, shown: Shown, number: int, piece: str, *, last: bool) -> None:
        if self.refusals:
            self.refused.append(self.refusals.pop(0))
            raise self.refused[-1]
        self.calls.append(("edit", shown.messages[number], piece))
        self.times.append(self._clock.now())

    async def strip(self, key: ChannelKey, message_id: int) -> None:
        self.stripped.append(message_id)

    def retry_after(self, error: Exception) -> float:
        return error.retry_after if isinstance(error, Refused) else 0.0

    def lost_access(self, key: ChannelKey) -> None:
        self.lost.append(key)

    async def post(self, key: ChannelKey, message: str) -> None:
        self.posts.append(message)

    def fault(self, error: Exception) -> Fault | None:
        return error.fault if isinstance(error, Refused) else None

    async def show_picture(self, shown: Shown, pieces: list[str]) -> bool:
        self.pictures.append((shown.card.segment_id, shown.card.picture_path))
        return False


def _buttons(card: StoryCard) -> list[Button]:
    from adapters.buttons import card_buttons

    return card_buttons(card, 20)


def segment(segment_id: int, state: SegmentState = SegmentState.OPEN) -> Segment:
    return Segment(segment_id, 1, segment_id - 1, state, f"Part {segment_id}.", ("a", "b"), "")


def started(segment_id: int) -> ev.SegmentStarted:
    return ev.SegmentStarted(KEY, 1, EN, segment_id, segment_id - 1, False)


def finished(segment_id: int) -> ev.SegmentFinished:
    return ev.SegmentFinished(KEY, 1, EN, segment(segment_id), False)


def decided(segment_id: int) -> ev.ChoiceDecided:
    return ev.ChoiceDecided(KEY, 1, EN, segment_id, 0, "a", DecidedBy.PRESS, 1)


def grew(segment_id: int, narration: str) -> ev.NarrationGrew:
    return ev.NarrationGrew(KEY, 1, EN, segment_id, narration)


@pytest.fixture
def records() -> MemoryRecords:
    return MemoryRecords()


@pytest.fixture
def make_screen(
    make_core: CoreFactory, records: MemoryRecords, clock: FakeClock
) -> type[RecordingScreen]:
    core = make_core()

    class Bound(RecordingScreen):
        def __init__(self, capacity: int = 256) -> None:
            super().__init__(core.engine, records, clock, capacity=capacity)

    return Bound


async def test_the_registry_is_capped_least_recently_used_first(
    make_screen: type[RecordingScreen],
) -> None:
    screen = make_screen(capacity=2)
    for segment_id in (1, 2, 3):
        await screen.show(started(segment_id))
    assert screen.on_screen == 2
    await screen.close()


async def test_a_decided_part_leaves_unless_its_picture_is_coming(
    make_screen: type[RecordingScreen], clock: FakeClock
) -> None:
    screen = make_screen()
    for segment_id in (1, 2):
        await screen.show(started(segment_id))
        await screen.show(finished(segment_id))
    await screen.show(ev.PictureQueued(KEY, 1, EN, 2, ahead=0))
    await screen.show(decided(1))
    await screen.show(decided(2))
    await clock.advance(1)  # one interval: the coalesced edits go out
    assert screen.on_screen == 1  # part 2 waits for its picture
    await screen.show(ev.PictureReady(KEY, 1, EN, 2, "/pictures/2.png"))
    await clock.advance(1)
    assert screen.on_screen == 0
    assert screen.pictures == [(2, "/pictures/2.png")]
    await screen.show(ev.StoryStopped(KEY, 1, EN, 2))
    assert screen.posts == [text(EN, Msg.STORY_STOPPED)]
    await screen.close()


async def test_an_evicted_part_is_rebuilt_and_still_gets_its_picture(
    make_screen: type[RecordingScreen], records: MemoryRecords
) -> None:
    screen = make_screen(capacity=1)
    await screen.show(started(1))
    await screen.show(finished(1))
    await screen.show(started(2))  # part 1 leaves the registry (the cap)
    assert screen.on_screen == 1
    shown_as = records.messages[1]
    assert [r.kind for r in shown_as] == [MessageKind.TEXT]
    # The store already knows the picture when its event comes.
    ready = segment(1)
    records.segments[1] = Segment(
        **{**{f: getattr(ready, f) for f in ready.__slots__}, "image_state": ImageState.READY}
    )

    await screen.show(ev.PictureReady(KEY, 1, EN, 1, "/pictures/1.png"))

    assert screen.pictures == [(1, "/pictures/1.png")]
    await screen.close()


async def test_undo_of_an_evicted_decided_part_shows_it_again_below(
    make_screen: type[RecordingScreen], records: MemoryRecords, clock: FakeClock
) -> None:
    screen = make_screen()
    await screen.show(started(1))
    await screen.show(finished(1))
    await screen.show(decided(1))
    await clock.advance(1)
    assert screen.on_screen == 0
    old = records.messages[1][0].message_id
    records.segments[1] = segment(1)  # undo reopened it in the store

    await screen.show(finished(1))
    await clock.advance(1)

    undone = [c for c in screen.calls if c[0] == "edit" and c[1] == old]
    assert undone[-1][2].endswith(text(EN, Msg.PART_UNDONE) + " ")
    assert screen.calls[-1][0] == "send"  # the part again, at the bottom
    assert records.messages[1][0].message_id != old
    await screen.close()


async def test_a_paced_edit_waits_for_the_clock_and_no_op_edits_are_skipped(
    make_screen: type[RecordingScreen], clock: FakeClock
) -> None:
    import asyncio

    screen = make_screen()
    await screen.show(started(1))
    sent = len(screen.calls)
    await screen.show(ev.NarrationGrew(KEY, 1, EN, 1, "Once"))
    await asyncio.sleep(0)
    assert len(screen.calls) == sent  # paced: nothing before the interval passes
    await clock.advance(1)
    assert screen.calls[-1][0] == "edit"
    assert screen.calls[-1][2].startswith("Once")
    await screen.show(ev.PictureDropped(KEY, 1, EN, 1))
    await asyncio.sleep(0)
    await clock.advance(1)
    assert len(screen.calls) == sent + 1  # the same content is not edited again
    await screen.close()


@pytest.mark.parametrize(
    "button",
    [
        Button(ButtonKind.CHOICE, 1, 0),
        Button(ButtonKind.CHOICE, 999_999_999_999_999, 9),
        Button(ButtonKind.CLOSE_VOTE, 42),
        Button(ButtonKind.RETRY, 7),
        Button(ButtonKind.REDRAW, 3),
        Button(ButtonKind.OWN_ACTION, 5),
    ],
)
@pytest.mark.parametrize("prefix", ["", "sc:"])
def test_button_ids_round_trip(button: Button, prefix: str) -> None:
    assert decode(encode(button, prefix), prefix) == button


@pytest.mark.parametrize(
    "forged",
    [
        "",
        "c",
        "c:1",
        "c:1:0:0",
        "c:²:0",
        "c:١:0",
        "c:01:0",
        "c:0:0",
        "c:1:10",
        "c:1:-1",
        "c: 1:0",
        "t:1:0",
        "x:",
        "q:1",
        "w:",
        "w:1:0",
        "w:0",
        "c:1234567890123456:0",
        "r:" + "1" * 70,
        "sc:c:1:0",  # another platform's prefix
    ],
)
def test_forged_button_ids_are_rejected(forged: str) -> None:
    assert decode(forged) is None
    assert decode("x" + forged, "sc:") is None


def test_the_command_vocabulary_parses_one_way_everywhere() -> None:
    assert parse_command("/retry@StoryBot") is Command.RETRY
    assert parse_command("STOP") is Command.STOP
    assert parse_command("/nonsense") is None
    assert {
        Command.STOP,
        Command.RETRY,
        Command.UNDO,
        Command.REDRAW,
        Command.CLOSE_VOTE,
        Command.REROLL,
    } == MODERATED
    assert {a.reply for a in ACTIONS.values()} == {
        Msg.STORY_STOPPED,
        Msg.RETRYING,
        Msg.UNDONE,
        Msg.REDRAWING,
        Msg.VOTE_CLOSED,
        Msg.REROLLING,
    }


async def test_the_one_error_path(make_core: CoreFactory, caplog: pytest.LogCaptureFixture) -> None:
    engine = make_core().engine
    place = Place(KEY, "g", False)
    actor = Actor("1", "Ann", can_moderate=True)

    refused = await answer(perform(engine, Command.STOP, place, actor, EN), EN, "stop")
    assert refused is not None
    assert refused.kind is ReplyKind.ERROR
    assert refused.text == text(EN, Msg.NO_STORY)

    async def broken() -> None:
        raise RuntimeError("bug")

    with caplog.at_level(logging.ERROR):
        failed = await answer(broken(), EN, "broken")
    assert failed is not None
    assert (failed.text, failed.kind) == (text(EN, Msg.INTERNAL_ERROR), ReplyKind.ERROR)
    assert [r.exc_info is not None for r in caplog.records if "broken" in r.getMessage()] == [True]
    with pytest.raises(ValueError, match="arguments"):
        await perform(engine, Command.START, place, actor, EN)


async def test_an_urgent_edit_joins_the_pending_one_and_waits_at_most_one_interval(
    make_screen: type[RecordingScreen], clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    screen = make_screen()
    start = clock.now()
    await screen.show(started(1))
    await screen.show(grew(1, "Once"))  # paced: due one interval after the first send
    await clock.advance(0.3)
    await screen.show(finished(1))  # urgent, but the message was sent 0.3 s ago
    assert len(screen.calls) == 1
    await clock.advance(0.69)
    assert len(screen.calls) == 1
    await clock.advance(0.01)  # one interval after the send: the newest state, once
    assert [c[0] for c in screen.calls] == ["send", "edit"]
    assert screen.calls[-1][2].startswith("Part 1.")
    await clock.advance(5)
    await screen.show(ev.PictureFailed(KEY, 1, EN, 1, "boom", False))  # urgent: at once
    assert "boom" in screen.calls[-1][2]
    await screen.show(decided(1))  # urgent right after an edit: waits one interval
    await clock.advance(0.99)
    assert len(screen.calls) == 3
    await clock.advance(0.01)
    assert len(screen.calls) == 4
    assert screen.times == [start, start + 1.0, start + 6.0, start + 7.0]
    no_escapes(caplog)
    await screen.close()


async def test_a_rate_limit_holds_every_edit_of_the_channel_and_coalesces_them(
    make_screen: type[RecordingScreen], clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    screen = make_screen()
    start = clock.now()
    await screen.show(started(1))
    await screen.show(started(2))
    screen.refusals.append(Refused(Fault.RATE_LIMITED, retry_after=5))
    await clock.advance(1)
    await screen.show(finished(1))  # refused: the channel waits 5 s
    for words in ("One", "One two", "One two three"):
        await screen.show(grew(2, words))  # another message of the channel waits too
        await clock.advance(0.5)
    await screen.show(decided(1))
    await clock.advance(3.49)
    assert [c[0] for c in screen.calls] == ["send", "send"]
    await clock.advance(0.01)  # the hold ends: one edit each, with the newest state
    edits = [c for c in screen.calls if c[0] == "edit"]
    assert sorted(c[1] for c in edits) == [100, 101]
    assert "»" in next(c[2] for c in edits if c[1] == 100)  # the decision
    assert next(c[2] for c in edits if c[1] == 101).startswith("One two three")
    assert screen.times[-2:] == [start + 6.0, start + 6.0]
    no_escapes(caplog)
    await screen.close()


async def test_no_access_pauses_once_and_no_more_calls_are_refused(
    make_screen: type[RecordingScreen], clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    screen = make_screen()
    await screen.show(started(1))
    screen.refusals.extend(Refused(Fault.NO_ACCESS) for _ in range(10))
    for words in ("One", "One two", "One two three"):
        await screen.show(grew(1, words))
        await clock.advance(1)
    await screen.show(finished(1))
    await screen.show(ev.Notice(KEY, 1, EN, Msg.PICTURES_OFF))
    await clock.advance(10)
    assert len(screen.refused) == 1
    assert screen.lost == [KEY]
    assert screen.posts == []
    await screen.show(started(2))  # the story was resumed: access is back
    await clock.advance(1)
    screen.refusals.clear()
    await clock.advance(1)
    assert screen.calls[-1][0] == "send"
    no_escapes(caplog)
    await screen.close()


@pytest.mark.parametrize("fault", [Fault.NOT_MODIFIED, Fault.FAILED])
async def test_not_modified_is_ignored_and_other_failures_are_logged_once(
    make_screen: type[RecordingScreen],
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    fault: Fault,
) -> None:
    screen = make_screen()
    await screen.show(started(1))
    screen.refusals.append(Refused(fault))
    await clock.advance(1)
    with caplog.at_level(logging.INFO):
        await screen.show(finished(1))
    logged = [r for r in caplog.records if "could not show" in r.getMessage()]
    if fault is Fault.FAILED:
        assert [r.getMessage() for r in logged] == [
            f"console: story 1: could not show a part in {KEY}: FAILED"
        ]
    else:
        assert logged == []
    assert screen.on_screen == 1
    no_escapes(caplog)
    await screen.close()


async def test_a_gone_message_is_posted_again_and_the_old_one_loses_its_buttons(
    make_screen: type[RecordingScreen], records: MemoryRecords, clock: FakeClock
) -> None:
    screen = make_screen()
    await screen.show(started(1))
    await clock.advance(1)
    screen.refusals.append(Refused(Fault.GONE))
    await screen.show(finished(1))
    assert [c[0] for c in screen.calls] == ["send", "send"]
    old, new = screen.calls[0][1], screen.calls[1][1]
    assert screen.stripped == [old]
    assert screen.retired(KEY, old)
    assert not screen.retired(KEY, new)
    assert [r.message_id for r in records.messages[1]] == [new]
    await screen.close()


@pytest.mark.parametrize(
    "drop",
    [
        ev.SegmentSuperseded(KEY, 1, EN, 1, ev.Superseded.RETRIED),
        ev.StoryStopped(KEY, 1, EN, 1),
        ev.PictureDropped(KEY, 1, EN, 1),
        ev.PictureFailed(KEY, 1, EN, 1, "no server", outage=True),
    ],
    ids=["retry", "stop", "dropped", "failed"],
)
async def test_a_dropped_picture_clears_its_progress_line_for_good(
    make_screen: type[RecordingScreen], clock: FakeClock, drop: ev.StoryEvent
) -> None:
    screen = make_screen()
    await screen.show(started(1))
    await screen.show(finished(1))
    await screen.show(ev.PictureProgress(KEY, 1, EN, 1, percent=40))
    await clock.advance(1)
    assert "Drawing… 40%" in screen.calls[-1][2]
    await screen.show(drop)
    await screen.show(ev.PictureProgress(KEY, 1, EN, 1, percent=60))  # late news of it
    await clock.advance(1)
    assert "Drawing" not in screen.calls[-1][2]
    await clock.advance(5)
    assert "Drawing" not in screen.calls[-1][2]
    await screen.close()


def test_a_shrunk_narration_leaves_the_parts_later_messages_without_it() -> None:
    assert narration_pieces("", "✍️", 100, at_least=2) == ["…", "✍️"]
    assert narration_pieces("Short.", "", 100, at_least=3) == ["Short.", "…", "…"]
    assert narration_pieces("Short.", "✍️", 100) == ["Short.\n\n✍️"]
