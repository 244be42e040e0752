"""A StoryView that counts what passes through it, then shows it through the real one.

The engine already tells the screens everything an operator wants to count (a part
asked for, written or failed; a picture queued, drawing, done), so the figures come from
the events, and the engine and the illustrator need no hooks of their own.
"""

from __future__ import annotations

from collections import OrderedDict

from storycraft_bot.core import events as ev
from storycraft_bot.core.clock import Clock
from storycraft_bot.core.metrics import FailureReason, Metrics, segment_failure
from storycraft_bot.core.ports import StoryView

#: Parts and pictures followed at once; past this the oldest are forgotten (a part whose
#: end was never shown, e.g. cut off by a shutdown, must not grow memory for ever).
FOLLOWED = 10_000


class _Since(OrderedDict[int, float]):
    """Segment id -> when it started; bounded, oldest dropped first."""

    def start(self, segment_id: int, at: float) -> None:
        self.setdefault(segment_id, at)
        while len(self) > FOLLOWED:
            self.popitem(last=False)


class MeteredView:
    """Counts turns, failures and the picture queue, then forwards every event."""

    def __init__(self, inner: StoryView, metrics: Metrics, clock: Clock) -> None:
        self._inner = inner
        self._metrics = metrics
        self._clock = clock
        self._writing = _Since()
        self._queued = _Since()
        self._drawing = _Since()

    async def show(self, event: ev.StoryEvent) -> None:
        self._count(event)
        await self._inner.show(event)

    def _count(self, event: ev.StoryEvent) -> None:
        now = self._clock.now()
        if isinstance(event, ev.SegmentStarted):
            self._writing.start(event.segment_id, now)
        elif isinstance(event, ev.SegmentFinished):
            began = self._writing.pop(event.segment.id, None)
            if began is not None:
                self._metrics.turn_finished(event.key.platform, now - began)
        elif isinstance(event, ev.SegmentFailed):
            self._writing.pop(event.segment_id, None)
            self._metrics.failed(segment_failure(event.reason))
        elif isinstance(event, ev.SegmentSuperseded):
            self._writing.pop(event.segment_id, None)
        else:
            self._count_picture(event, now)

    def _count_picture(self, event: ev.StoryEvent, now: float) -> None:
        if isinstance(event, ev.PictureQueued):
            if event.segment_id not in self._drawing:
                self._queued.start(event.segment_id, now)
                self._metrics.picture_queued(len(self._queued))
        elif isinstance(event, ev.PictureProgress):
            if event.segment_id not in self._drawing:
                queued = self._queued.pop(event.segment_id, now)
                self._drawing.start(event.segment_id, now)
                self._metrics.picture_started(len(self._queued), now - queued, len(self._drawing))
        elif isinstance(event, ev.PictureReady | ev.PictureFailed | ev.PictureDropped):
            self._queued.pop(event.segment_id, None)
            self._drawing.pop(event.segment_id, None)
            if isinstance(event, ev.PictureFailed):
                outage = event.outage
                self._metrics.failed(
                    FailureReason.PICTURE_OUTAGE if outage else FailureReason.PICTURE_FAILED
                )
            self._metrics.picture_ended(len(self._queued), len(self._drawing))
