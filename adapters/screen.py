"""The outline every screen shares: which segments are on screen, what an engine event
changes, pacing, skipping no-op edits, the narration pieces. A platform (Discord,
Telegram, later the web) subclasses `Screen` and writes only its hooks: how a card is
rendered into pieces, how a piece is sent or edited, how a channel message is posted,
and what each of its errors means (a `Fault`). Every platform call, paced or urgent,
goes through one error path here: rate limits hold the whole channel and are retried,
"no access" pauses the story once, a lost message is posted again (the old one loses
its buttons where the platform still lets us), "not modified" is ignored, anything else
is logged once with the story id.
"""

from __future__ import annotations

import abc
import asyncio
import enum
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import ClassVar, Generic, TypeVar

from storycraft_bot.core import events as ev
from storycraft_bot.core.clock import Clock
from storycraft_bot.core.engine import StoryEngine
from storycraft_bot.core.metrics import Metrics, NullMetrics
from storycraft_bot.core.models import (
    ChannelKey,
    Language,
    MessageKind,
    MessageRef,
    Place,
    Platform,
)
from storycraft_bot.core.screen_records import ScreenRecords, ShownSegment
from storycraft_bot.core.text_fitting import split_text
from storycraft_bot.core.texts import text

from .background import Background
from .pacing import EditPacer
from .story_card import CardState, StoryCard, is_urgent, load_card, stopped_text

log = logging.getLogger(__name__)

P = TypeVar("P")  # one rendered piece (a message's content), the platform's own type

DEFAULT_CAPACITY = 256  # segments kept on screen in memory; older ones are rebuilt


class Fault(enum.Enum):
    """What a platform error means for the story."""

    NO_ACCESS = enum.auto()  # the platform refuses us in the channel: pause the story
    RATE_LIMITED = enum.auto()  # wait `retry_after` (the whole channel), then retry
    GONE = enum.auto()  # the message is deleted or may no longer be edited: post it again
    NOT_MODIFIED = enum.auto()  # the edit would change nothing: fine as it is
    FAILED = enum.auto()  # this call failed: log it and go on


class Access(enum.Enum):
    """A channel that refused us: its story still being paused, or paused."""

    PAUSING = enum.auto()
    PAUSED = enum.auto()


@dataclass(eq=False)
class Shown:
    """One segment on screen: its card and the messages that show it."""

    card: StoryCard
    key: ChannelKey
    messages: list[int] = field(default_factory=list)  # narration; the last is the main one
    captioned: bool = False  # the main message became the picture, narration as caption
    photo_reply: int | None = None  # the picture as a separate reply to the main message
    upload: str = ""  # the platform's reference to the uploaded picture, to send it again
    sent: dict[int, str] = field(default_factory=dict)  # fingerprint of what each shows
    picture_shown: str = ""
    pacer: EditPacer | None = None
    stored: tuple[MessageRef, ...] = ()  # the references last saved in the records
    drafted_at: float | None = None  # when its last piece was last shown as a draft
    draft_keeper: asyncio.Task[None] | None = None  # shows the draft again before it fades

    @classmethod
    def restored(cls, card: StoryCard, key: ChannelKey, stored: ShownSegment) -> Shown:
        """The screen state of a segment from its stored message references."""
        shown = cls(card, key, upload=stored.upload, picture_shown=card.picture_path)
        shown.stored = tuple(stored.messages)
        for ref in stored.messages:
            if ref.kind is MessageKind.PHOTO_REPLY:
                shown.photo_reply = ref.message_id
            else:
                shown.messages.append(ref.message_id)
                shown.captioned = shown.captioned or ref.kind is MessageKind.PICTURE
        return shown

    def refs(self, platform: Platform) -> list[MessageRef]:
        def ref(kind: MessageKind, message_id: int) -> MessageRef:
            return MessageRef(platform, kind, message_id)

        refs = [ref(MessageKind.TEXT, m) for m in self.messages[:-1]]
        if self.messages:
            main = MessageKind.PICTURE if self.captioned else MessageKind.TEXT
            refs.append(ref(main, self.messages[-1]))
        if self.photo_reply is not None:
            refs.append(ref(MessageKind.PHOTO_REPLY, self.photo_reply))
        return refs

    @property
    def drafting(self) -> bool:
        """Its last piece is a draft: the part is being written and that piece has no
        message yet."""
        return self.drafted_at is not None and self.card.state is CardState.WRITING

    def close(self) -> None:
        """It leaves the registry: its pending edit and draft keeper are dropped."""
        if self.pacer is not None:
            self.pacer.cancel()
        if self.draft_keeper is not None:
            self.draft_keeper.cancel()

    def stop(self) -> list[asyncio.Task[None]]:
        """The screen closes: the pending edit and the draft keeper are cancelled, an edit
        under way is left to finish; returns the tasks to await."""
        tasks = self.pacer.stop() if self.pacer is not None else []
        if self.draft_keeper is not None:
            self.draft_keeper.cancel()
            tasks.append(self.draft_keeper)
        return tasks


class ShownRegistry:
    """The segments on screen, by segment id: bounded. A segment leaves when it is
    settled (see `Screen._settle`) or, least recently used first, past `capacity`; an
    evicted one is rebuilt from the ScreenRecords on its next event."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[int, Shown] = OrderedDict()
        # Segments that left settled: if undo reopens one, its old message must be marked
        # undone and the part shown afresh, as if it had stayed. Ids only, also bounded.
        self._settled: OrderedDict[int, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, segment_id: object) -> bool:
        return segment_id in self._entries

    def get(self, segment_id: int) -> Shown | None:
        shown = self._entries.get(segment_id)
        if shown is not None:
            self._entries.move_to_end(segment_id)
        return shown

    def put(self, shown: Shown) -> None:
        segment_id = shown.card.segment_id
        old = self._entries.pop(segment_id, None)
        if old is not None and old is not shown:
            old.close()
        self._entries[segment_id] = shown
        self._settled.pop(segment_id, None)
        while len(self._entries) > self._capacity:
            _, evicted = self._entries.popitem(last=False)
            evicted.close()

    def settle(self, shown: Shown) -> None:
        """`shown` is done: drop it (if it is still the segment's entry)."""
        segment_id = shown.card.segment_id
        if self._entries.get(segment_id) is not shown:
            return
        del self._entries[segment_id]
        shown.close()
        self._settled[segment_id] = None
        while len(self._settled) > self._capacity * 4:
            self._settled.popitem(last=False)

    def in_channel(self, key: ChannelKey) -> list[Shown]:
        return [shown for shown in self._entries.values() if shown.key == key]

    def left_settled(self, segment_id: int) -> bool:
        return segment_id in self._settled

    def close(self) -> list[asyncio.Task[None]]:
        tasks = [task for shown in self._entries.values() for task in shown.stop()]
        self._entries.clear()
        return tasks


def narration_pieces(narration: str, status: str, limit: int, at_least: int = 1) -> list[str]:
    """The narration split for messages of `limit` characters, the status lines under the
    last piece (the caller keeps room for them in `limit`). `at_least`: the messages the
    part has already; a narration that shrank (asked again, rewritten after a restart)
    leaves the later ones with "…", never with discarded text."""
    pieces = split_text(narration, limit) if narration else []
    pieces = pieces or [""]
    if len(pieces) < at_least:
        more = at_least - len(pieces)
        pieces = [p or "…" for p in pieces] + ["…"] * (more - 1) + [""]
    pieces[-1] = "\n\n".join(p for p in (pieces[-1], status) if p) or "…"
    return pieces


class Screen(abc.ABC, Generic[P]):
    """The engine's StoryView for one platform, with the platform left to the hooks."""

    platform: ClassVar[Platform]
    #: True when a new picture goes out with the last piece's edit (Discord's attachment);
    #: False when `show_picture` shows it separately (Telegram's photo).
    picture_rides_on_text: ClassVar[bool] = False
    #: Seconds a draft (see `draft`) is shown again after, while nothing changes: it fades.
    draft_lifetime: ClassVar[float] = 20.0
    #: How players ask for the book here (named when a story reaches its ending).
    book_command: ClassVar[str] = "/book"

    def __init__(
        self,
        engine: StoryEngine,
        records: ScreenRecords,
        clock: Clock,
        *,
        capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        self._engine = engine
        self._records = records
        self._clock = clock
        self._shown = ShownRegistry(capacity)
        self._background = Background()
        self._closed = False  # stopped: events still coming (a shutdown's) are not shown
        self._holds: dict[ChannelKey, float] = {}  # rate-limited channels: until when
        # No access: no calls until the story, once paused, starts a new part.
        self._refused: dict[ChannelKey, Access] = {}
        self._retired: OrderedDict[tuple[ChannelKey, int], None] = OrderedDict()
        self._metrics: Metrics = NullMetrics()

    # Hooks: what each platform writes

    @abc.abstractmethod
    def edit_interval(self, card: StoryCard) -> float:
        """Seconds between two edits of one of the card's messages."""

    @abc.abstractmethod
    def layout(self, shown: Shown) -> list[P]:
        """The card as message pieces; the last one carries the status and the buttons."""

    @abc.abstractmethod
    def fingerprint(self, piece: P) -> str:
        """What a piece shows, to skip edits that would change nothing."""

    @abc.abstractmethod
    async def send(self, shown: Shown, piece: P, *, last: bool) -> int:
        """Post a new message with `piece`; its id."""

    @abc.abstractmethod
    async def edit(self, shown: Shown, number: int, piece: P, *, last: bool) -> None:
        """Edit message `number` to show `piece` (errors go to `fault`)."""

    @abc.abstractmethod
    async def post(self, key: ChannelKey, message: str) -> None:
        """A plain message in the channel (notices, "the story has ended")."""

    @abc.abstractmethod
    def fault(self, error: Exception) -> Fault | None:
        """What a platform error means; None for errors that are not the platform's."""

    def retry_after(self, error: Exception) -> float:
        """Seconds a RATE_LIMITED error asks the channel to wait."""
        return 1.0

    async def repost(self, shown: Shown, number: int, piece: P, *, last: bool) -> int:
        """Post message `number` again (the old one is GONE); the new id."""
        return await self.send(shown, piece, last=last)

    async def strip(self, key: ChannelKey, message_id: int) -> None:
        """Remove the buttons of a message that was posted again (best-effort: errors
        are ignored, the platform may refuse any edit of it)."""

    async def draft(self, shown: Shown, piece: P) -> bool:
        """Show the last piece of a part being written as a draft, a preview that is no
        message (Telegram's private chats); False where there are no drafts, and the
        piece is sent and edited as a message instead. Once the part is written its
        last piece is sent as a message."""
        return False

    async def show_picture(self, shown: Shown, pieces: list[P]) -> bool:
        """Show the card's new picture; True if the message references changed."""
        return False

    def lost_access(self, key: ChannelKey) -> None:
        """Called once the platform refused us in `key` (before the story pauses)."""

    def count_with(self, metrics: Metrics) -> None:
        """Report rate limits to the operator's figures (the composition root's choice)."""
        self._metrics = metrics

    # The outline

    async def show(self, event: ev.StoryEvent) -> None:
        if self._closed:
            # The rest of the bot shuts down after the adapters (pictures dropped, work
            # cancelled): an edit started now would outlive the database.
            return
        try:
            await self._dispatch(event)
        except Exception as err:
            if self.fault(err) is None:
                raise
            self._failed(err, event.key, event.session_id, type(event).__name__)
            if self.fault(err) is Fault.RATE_LIMITED and isinstance(event, ev.Notice):
                message = text(event.language, event.code, **dict(event.params))
                self._background.run(self._post_later(event.key, message), "notice")

    def book_hint(self, language: Language) -> str:
        """How players ask for the book here (named when a story reaches its ending)."""
        return self.book_command

    def retired(self, key: ChannelKey, message_id: int) -> bool:
        """The message was replaced by a new one: its buttons no longer count."""
        return (key, message_id) in self._retired

    @property
    def on_screen(self) -> int:
        """How many segments the registry holds now."""
        return len(self._shown)

    async def close(self) -> None:
        """Stop every pacer and background task (the adapter's stop)."""
        self._closed = True
        # Awaited, not only cancelled: an edit under way finishes committing its message
        # references before the database closes behind the adapters.
        await asyncio.gather(*self._shown.close(), return_exceptions=True)
        await self._background.close()

    def _failed(self, error: Exception, key: ChannelKey, story: int, what: str) -> None:
        """The one error path for a refused platform call."""
        fault = self.fault(error)
        if fault is Fault.RATE_LIMITED:
            until = self._clock.now() + self.retry_after(error)
            self._holds[key] = max(self._holds.get(key, 0.0), until)
            self._metrics.rate_limited(self.platform)
            log.info("%s: story %d: %s rate-limited until %.1f", self.platform, story, key, until)
        elif fault is Fault.NO_ACCESS:
            self._refuse(key, story, error)
        elif fault is Fault.NOT_MODIFIED:
            pass
        elif fault is None:
            log.error(
                "%s: story %d: could not show %s in %s",
                self.platform,
                story,
                what,
                key,
                exc_info=error,
            )
        else:
            log.warning(
                "%s: story %d: could not show %s in %s: %s", self.platform, story, what, key, error
            )

    def _refuse(self, key: ChannelKey, story: int, error: Exception) -> None:
        """No access: stop calling the platform in `key` and pause the story, once."""
        if key in self._refused:
            return
        self._refused[key] = Access.PAUSING
        for shown in self._shown.in_channel(key):
            if shown.pacer is not None:
                shown.pacer.cancel()
        log.warning(
            "%s: story %d: no access to %s (%s); pausing it", self.platform, story, key, error
        )
        self.lost_access(key)
        # Scheduled, not awaited: the engine may hold the channel's lock right now.
        self._background.run(self._pause(key), f"pause {key}")

    async def _pause(self, key: ChannelKey) -> None:
        try:
            await self._engine.pause(Place(key, "", True))
        finally:
            if key in self._refused:
                self._refused[key] = Access.PAUSED

    async def _post_later(self, key: ChannelKey, message: str) -> None:
        await self._clock.sleep(max(0.0, self._holds.get(key, 0.0) - self._clock.now()))
        try:
            await self.post(key, message)
        except Exception as err:
            if self.fault(err) is None:
                raise
            self._failed(err, key, 0, "a notice")

    async def _dispatch(self, event: ev.StoryEvent) -> None:
        if isinstance(event, ev.SegmentStarted):
            card = StoryCard(
                event.session_id, event.segment_id, event.index, event.language, event.is_group
            )
            started = Shown(card, event.key)
            if event.resumed:
                started = await self._resumed(started)
            self._shown.put(started)
            await self._regained(event.key)
            await self._pace(started, urgent=True)
            return
        if isinstance(event, ev.Notice):
            if event.key not in self._refused:
                await self.post(event.key, text(event.language, event.code, **dict(event.params)))
            return
        segment_id = ev.segment_of(event)
        shown = await self._find(segment_id, event) if segment_id else None
        if shown is not None and shown.card.reopens(event):
            shown = await self._reshow(shown)
        if shown is not None:
            shown.card.apply(event)
            await self._pace(shown, urgent=is_urgent(event))
        if isinstance(event, ev.StoryStopped) and event.key not in self._refused:
            await self.post(event.key, stopped_text(event, self.book_hint(event.language)))

    async def _resumed(self, started: Shown) -> Shown:
        """A part rewritten after a restart takes over the messages of the cut one (the
        engine moved their references to it): they are written over in place."""
        stored = await self._records.shown_segment(started.card.segment_id, self.platform)
        if stored is None or not stored.messages:
            return started
        return Shown.restored(started.card, started.key, stored)

    async def _regained(self, key: ChannelKey) -> None:
        """A new part starts where we had no access: once the story was paused, that is a
        retry or undo (so access is back); bring the parts whose edits were skipped up to
        date. A part whose writing began before the pause is no such sign: the pause
        cancels it, and its placeholder would only be refused again."""
        if self._refused.get(key) is not Access.PAUSED:
            return
        del self._refused[key]
        for shown in self._shown.in_channel(key):
            await self._pace(shown, urgent=False)

    async def _find(self, segment_id: int, event: ev.StoryEvent) -> Shown | None:
        """The segment's screen state; rebuilt from the records after a restart or after
        it left the registry."""
        shown = self._shown.get(segment_id)
        if shown is not None:
            return shown
        loaded = await load_card(self._records, segment_id, self.platform)
        if loaded is None:
            return None
        card, stored = loaded
        if isinstance(event, ev.SegmentFinished) and self._shown.left_settled(segment_id):
            card.state = CardState.DECIDED  # its message shows it decided: undo reopens it
        shown = Shown.restored(card, event.key, stored)
        if isinstance(event, ev.PictureReady):
            shown.picture_shown = ""  # this event brings the picture: it is not shown yet
        self._shown.put(shown)
        return shown

    async def _reshow(self, old: Shown) -> Shown:
        """Mark the old message undone and start a new one for the reopened segment."""
        old.card.mark_undone()
        await self._pace(old, urgent=True)
        fresh = Shown(old.card.fresh(), old.key)
        self._shown.put(fresh)
        return fresh

    async def _pace(self, shown: Shown, *, urgent: bool) -> None:
        """Edit with the latest state, never twice within the interval (see EditPacer)."""
        if shown.pacer is None:
            interval = self.edit_interval(shown.card)
            key = shown.key
            shown.pacer = EditPacer(
                interval,
                lambda: self._flush(shown),
                self._clock,
                lambda: self._holds.get(key, 0.0),
            )
        await shown.pacer.request(urgent=urgent)

    async def _flush(self, shown: Shown) -> None:
        """Bring the segment's messages in line with its card (called by its pacer),
        through the one error path: nothing escapes into the pacer's task."""
        if shown.key in self._refused:
            return
        try:
            await self._bring_in_line(shown)
        except Exception as err:
            self._failed(err, shown.key, shown.card.session_id, "a part")
            if self.fault(err) is Fault.RATE_LIMITED and shown.pacer is not None:
                shown.pacer.retry_later()

    async def _bring_in_line(self, shown: Shown) -> None:
        card = shown.card
        pieces = self.layout(shown)
        new_picture = bool(card.picture_path) and card.picture_path != shown.picture_shown
        changed = False
        for number, piece in enumerate(pieces):
            last = number == len(pieces) - 1
            if last and number == len(shown.messages) and await self._drafted(shown, piece):
                break
            fingerprint = self.fingerprint(piece)
            if number < len(shown.messages):
                message_id = shown.messages[number]
                carries_picture = last and new_picture and self.picture_rides_on_text
                if shown.sent.get(message_id) == fingerprint and not carries_picture:
                    continue  # a no-op edit: the platform would refuse or waste it
                new_id = await self._edit_or_repost(shown, number, piece, last=last)
                if new_id != message_id:
                    shown.messages[number] = new_id
                    changed = True
            else:
                new_id = await self.send(shown, piece, last=last)
                shown.messages.append(new_id)
                changed = True
            shown.sent[new_id] = fingerprint
        if new_picture:
            changed = await self.show_picture(shown, pieces) or changed
            shown.picture_shown = card.picture_path
        refs = tuple(shown.refs(self.platform))
        if changed or refs != shown.stored:  # also what an earlier, refused flush posted
            await self._records.set_messages(card.segment_id, refs)
            shown.stored = refs
        self._settle(shown)

    async def _drafted(self, shown: Shown, piece: P) -> bool:
        """Show the new last piece of a part being written as a draft, if the platform
        can; it is shown again before it fades, until the part is written."""
        if shown.card.state is not CardState.WRITING or not await self.draft(shown, piece):
            shown.drafted_at = None
            return False
        shown.drafted_at = self._clock.now()
        if shown.draft_keeper is None or shown.draft_keeper.done():
            shown.draft_keeper = asyncio.create_task(self._keep_draft(shown))
        return True

    async def _keep_draft(self, shown: Shown) -> None:
        """Show the draft again (through its pacer) while it is one and nothing else did."""
        while shown.drafting and shown.drafted_at is not None:
            wait = shown.drafted_at + self.draft_lifetime - self._clock.now()
            if wait > 0:
                await self._clock.sleep(wait)
            elif shown.key not in self._refused:
                shown.drafted_at = self._clock.now()  # asked for: no second ask meanwhile
                await self._pace(shown, urgent=False)
            else:
                return

    async def _edit_or_repost(self, shown: Shown, number: int, piece: P, *, last: bool) -> int:
        """Edit message `number`; the id now showing it (a new one if it was GONE)."""
        message_id = shown.messages[number]
        try:
            await self.edit(shown, number, piece, last=last)
            return message_id
        except Exception as err:
            fault = self.fault(err)
            if fault is Fault.NOT_MODIFIED:
                return message_id
            if fault is not Fault.GONE:
                raise
            log.info(
                "%s: story %d: message %s cannot be edited (%s); posting it again",
                self.platform,
                shown.card.session_id,
                message_id,
                err,
            )
        new_id = await self.repost(shown, number, piece, last=last)
        await self._retire(shown.key, message_id)
        return new_id

    async def _retire(self, key: ChannelKey, message_id: int) -> None:
        """The old message of a reposted part: its buttons go (where the platform still
        allows an edit) and no longer count."""
        self._retired[(key, message_id)] = None
        while len(self._retired) > DEFAULT_CAPACITY * 4:
            self._retired.popitem(last=False)
        try:
            await self.strip(key, message_id)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            log.info("%s: buttons of message %s stay (%s)", self.platform, message_id, err)

    def _settle(self, shown: Shown) -> None:
        """A part that is decided, superseded or stopped, with no picture coming and no
        edit waiting, leaves the registry: nothing more will change on its message."""
        pending = shown.pacer is not None and shown.pacer.pending
        if shown.card.settled and not shown.card.picture_pending and not pending:
            self._shown.settle(shown)
