"""What the illustrator reports about a picture, turned into stored state and events.

This is the PictureReporter port the engine hands to the Illustrator with each job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from storycraft_bot.core import events as ev
from storycraft_bot.core.announcer import Announcer
from storycraft_bot.core.models import (
    ImageState,
    Picture,
    PictureFailure,
    PictureJob,
    Session,
    SessionState,
    SubmittedPrompt,
)
from storycraft_bot.core.rating import is_spoiler
from storycraft_bot.core.store import StoryStore
from storycraft_bot.core.texts import Msg

log = logging.getLogger(__name__)


class PictureReports:
    """Records each report on the segment and shows it, unless the segment is gone."""

    def __init__(self, store: StoryStore, announce: Announcer) -> None:
        self._store = store
        self._announce = announce
        self._outage_told: set[int] = set()  # sessions told "pictures are off" this outage

    async def picture_submitted(self, job: PictureJob, prompt: SubmittedPrompt) -> None:
        # Stored even for a part retried meanwhile: the next start then deletes it.
        await self._store.set_submitted(job.segment_id, prompt)

    async def picture_queued(self, job: PictureJob, ahead: int) -> None:
        # Told without a read: a waiting picture's record is the queue itself (a part
        # retried, undone or stopped has its picture taken out before the story goes on,
        # and a read could land after that), and positions come in bursts of hundreds
        # that made every turn wait behind them at the database (bench/load_run.py).
        await self._announce(
            ev.PictureQueued(job.place.key, job.session_id, job.language, job.segment_id, ahead)
        )

    async def picture_progress(self, job: PictureJob, percent: int) -> None:
        percent = max(0, min(100, percent))
        await self._report(
            job,
            ImageState.DRAWING,
            lambda s: ev.PictureProgress(job.place.key, s.id, s.language, job.segment_id, percent),
        )

    async def picture_ready(self, job: PictureJob, picture: Picture) -> None:
        await self._store.save_picture(job.segment_id, picture)
        name = job.looks.portrait_for
        portrait = picture.portrait or picture.path
        if name and await self._store.set_portrait(job.session_id, name, portrait):
            # The first picture of a character is their reference from now on.
            log.info("story %d: portrait of %s is %s", job.session_id, name, portrait)
        self._outage_told.discard(job.session_id)  # pictures are back
        await self._report(
            job,
            None,
            lambda s: ev.PictureReady(
                job.place.key,
                s.id,
                s.language,
                job.segment_id,
                picture.path,
                spoiler=is_spoiler(s.settings.rating),
            ),
        )

    async def picture_failed(self, job: PictureJob, failure: PictureFailure, reason: str) -> None:
        outage = failure is PictureFailure.OUTAGE
        if outage and job.session_id not in self._outage_told:
            self._outage_told.add(job.session_id)
            session = await self._store.get_session(job.session_id)
            if session is not None and session.state is SessionState.ACTIVE:
                await self._announce(
                    ev.Notice(job.place.key, session.id, session.language, Msg.PICTURES_OFF)
                )
        await self._report(
            job,
            ImageState.FAILED,
            lambda s: ev.PictureFailed(
                job.place.key, s.id, s.language, job.segment_id, reason, outage
            ),
        )

    async def picture_dropped(self, job: PictureJob) -> None:
        # One write, no read: a waiting picture is replaced by the next part's at every
        # turn, and the story's language travels with the job.
        await self._store.drop_waiting_picture(job.segment_id)
        await self._announce(
            ev.PictureDropped(job.place.key, job.session_id, job.language, job.segment_id)
        )

    async def _report(
        self,
        job: PictureJob,
        state: ImageState | None,
        make: Callable[[Session], ev.StoryEvent],
    ) -> None:
        target = await self._store.picture_target(job.session_id, job.segment_id)
        if target is None:  # the story or the segment is gone, or the part was superseded
            return
        session, stored = target
        if state is not None and stored is not state:
            # Queue positions and progress come many times a picture: write a change only.
            await self._store.set_image_state(job.segment_id, state)
        await self._announce(make(session))
