"""The Illustrator port on ComfyUI: queue, pick a server, draw, store the file, report.

The GPU never waits on the bot: the queue grants each server two jobs (JOBS_PER_SERVER),
so the next prompt already sits in ComfyUI's own queue while one draws, and a job gives its
turn back as soon as its image is fetched, before the file, the database and the events.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from storycraft_bot.core.clock import Clock, Throttle
from storycraft_bot.core.errors import (
    IllustratorError,
    IllustratorUnavailable,
    RenderFailed,
    RenderInterrupted,
    ServerTooOld,
    WorkflowError,
)
from storycraft_bot.core.models import Picture, PictureFailure, PictureJob, SubmittedPrompt
from storycraft_bot.core.ports import PictureReporter
from storycraft_bot.core.rating import merge_negative
from storycraft_bot.pictures.comfy_pool import ComfyServer, ServerPool
from storycraft_bot.pictures.comfyui import ComfyClient, Rendered
from storycraft_bot.pictures.gpu_memory import GpuMemory
from storycraft_bot.pictures.gpu_queue import Dequeued, JobKind, Ticket, TicketState
from storycraft_bot.pictures.gpu_turns import GpuTurns
from storycraft_bot.pictures.looks import (
    draw_portrait,
    earlier_portrait,
    look_values,
    needs_portrait,
    workflow_for,
)
from storycraft_bot.pictures.server_checks import check_server, log_refusals
from storycraft_bot.pictures.workflow import Workflow

log = logging.getLogger(__name__)

# One drawing, the next already in ComfyUI's queue. A shared card keeps one: text needs it.
JOBS_PER_SERVER = 2
SEED_LIMIT = 2**32  # every picture gets its own seed, or ComfyUI answers from its cache


@dataclass(frozen=True, slots=True)
class _Drawn:
    """What a server drew, waiting to be stored and shown."""

    rendered: Rendered
    server: ComfyServer
    seed: int
    portrait: str = ""  # the character's portrait drawn first as the reference


@dataclass(eq=False)
class _Drawing:
    job: PictureJob
    ticket: Ticket
    task: asyncio.Task[None]
    server: ComfyServer | None = None
    prompt_id: str = ""  # on `server`; a new one when another server takes over


class ComfyIllustrator:
    """Draws each segment's picture through the GPU queue on the least busy server."""

    def __init__(
        self,
        pool: ServerPool,
        queue: GpuTurns,
        workflow: Workflow,
        pictures_dir: Path,
        clock: Clock,
        *,
        report_interval: float = 1.0,
        memory: GpuMemory | None = None,
        rng: random.Random | None = None,
        others: Mapping[str, Workflow] | None = None,
    ) -> None:
        self._pool = pool
        self._queue = queue
        self._workflow = workflow  # the default
        self._workflows = {workflow.name: workflow, **(others or {})}
        self._dir = pictures_dir
        self._clock = clock
        self._interval = report_interval
        self._memory = memory
        self._rng = rng or random.Random()
        self._drawings: dict[str, _Drawing] = {}  # by prompt_id

    @property
    def draws(self) -> bool:
        return True

    @property
    def workflow_names(self) -> tuple[str, ...]:
        """The workflows a story may choose, the default first: those some server can run
        (or, not checked yet because it did not answer, may run)."""
        others = sorted(
            name
            for name in set(self._workflows) - {self._workflow.name}
            if self._pool.runnable(name)
        )
        return (self._workflow.name, *others)

    @property
    def clients(self) -> tuple[ComfyClient, ...]:
        """Every configured server's client (for the operator's health check)."""
        return tuple(server.client for server in self._pool.servers)

    @property
    def servers(self) -> tuple[ComfyServer, ...]:
        return tuple(self._pool.servers)

    async def check_servers(self) -> None:
        """At start: each answering server's version and every workflow against it.

        ServerTooOld stops start-up; so does a default workflow that no answering server
        can run (WorkflowError). Other workflows a server cannot run are not sent there,
        and not offered when no server can run them (logged once each).
        """
        answered = 0
        for server in self._pool.servers:
            try:
                await check_server(server, self._workflows.values())
                answered += 1
            except IllustratorUnavailable as err:
                log.warning("%s; pictures wait until it answers", err)
        if not answered:
            log.warning("no ComfyUI server answers: stories go on in text until one does")
            return
        default = self._workflow.name
        if not self._pool.runnable(default):
            raise WorkflowError(next(s.cannot_run[default] for s in self._pool.servers))
        for server in self._pool.servers:
            log_refusals(server)
        for name in sorted(set(self._workflows) - set(self.workflow_names)):
            log.warning("workflow %s is not offered: no ComfyUI server can run it", name)

    async def enqueue(self, job: PictureJob, reporter: PictureReporter) -> None:
        prompt_id = str(uuid.uuid4())
        kind = JobKind.BACKLOG if job.backlog else JobKind.PICTURE
        ticket = self._queue.join(kind, job.place.guild_id, job.session_id, prompt_id)
        task = asyncio.create_task(
            self._run(job, ticket, reporter), name=f"picture-{job.segment_id}"
        )
        self._drawings[prompt_id] = _Drawing(job, ticket, task)
        task.add_done_callback(lambda _: self._drawings.pop(prompt_id, None))

    async def cancel_session(
        self, session_id: int, segment_ids: Collection[int] | None = None
    ) -> None:
        """Drop waiting pictures and interrupt running ones on their server: all of the
        session's, or only those of `segment_ids` (the rest, backlog included, go on)."""
        doomed = [
            d
            for d in self._drawings.values()
            if d.job.session_id == session_id
            and (segment_ids is None or d.job.segment_id in segment_ids)
        ]
        for drawing in doomed:
            if drawing.ticket.state is TicketState.RUNNING and drawing.server is not None:
                await self._forget(drawing.server, drawing.prompt_id)
            drawing.task.cancel()  # a waiting one leaves the queue as its task ends
        await asyncio.gather(*(d.task for d in doomed), return_exceptions=True)

    async def forget(self, prompt: SubmittedPrompt) -> None:
        """A prompt submitted before a restart that no part wants: dropped by its server."""
        server = self._pool.named(prompt.server)
        if server is None:
            log.info(
                "prompt %s was sent to %s, no longer configured", prompt.prompt_id, prompt.server
            )
            return
        await self._forget(server, prompt.prompt_id)

    async def _forget(self, server: ComfyServer, prompt_id: str) -> None:
        """Make sure ComfyUI does not draw a prompt nobody waits for: delete it from its
        queue, or interrupt it if it runs."""
        client = server.client
        try:
            await client.delete_pending([prompt_id])
            await client.interrupt(prompt_id)
        except IllustratorError as err:
            log.warning("could not cancel %s on %s: %s", prompt_id, client.base_url, err)

    async def close(self) -> None:
        """Cancel everything (shutdown); the engine re-queues unfinished pictures on start."""
        tasks = [d.task for d in self._drawings.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, job: PictureJob, ticket: Ticket, reporter: PictureReporter) -> None:
        position = Throttle(self._clock, self._interval)
        workflow = workflow_for(
            job, self._workflows.get(job.workflow, self._workflow), self._workflows
        )

        async def on_position(ahead: int) -> None:
            if position.ready():
                held = await self._held(self._pool.healthy(), workflow.name)
                await reporter.picture_queued(job, ahead + held)

        try:
            await self._queue.wait(ticket, on_position)
        except Dequeued as gone:
            log.info("picture for segment %d dropped from the queue: %s", job.segment_id, gone.why)
            await reporter.picture_dropped(job)
            return
        except asyncio.CancelledError:
            self._queue.done(ticket)  # its place in the queue, waiting or just granted
            raise
        try:
            drawn = await self._draw_somewhere(job, workflow, ticket.job_id, reporter)
        finally:
            self._queue.done(ticket)  # the next job is submitted while this one is stored
        if drawn is not None:
            await self._store(job, drawn, reporter)

    async def _held(self, servers: list[ComfyServer], workflow: str) -> int:
        """Prompts ComfyUI holds (every client's) on the least loaded of `servers` able to
        run `workflow`: a picture waits behind them too. Asked again when not heard lately."""
        counts = []
        for server in servers:
            if not server.can_run(workflow):
                continue
            try:
                counts.append(await server.client.queue_count(self._interval))
            except IllustratorError:
                continue
        return min(counts, default=0)

    async def _draw_somewhere(
        self, job: PictureJob, workflow: Workflow, prompt_id: str, reporter: PictureReporter
    ) -> _Drawn | None:
        """Try the least busy server, and once more on another if that one is down."""
        drawing = self._drawings.get(prompt_id)  # keyed by the first prompt_id, the ticket's
        tried: ComfyServer | None = None
        if job.submitted is not None:
            drawn = await self._reattach(job, workflow, job.submitted, drawing, reporter)
            if drawn is not None:
                return drawn
        for _ in range(2):
            server = self._pool.acquire(avoid=tried, workflow=workflow.name)
            if server is None:
                break
            if drawing is not None:
                drawing.server, drawing.prompt_id = server, prompt_id
            try:
                if not server.checked and not await self._checked(server, workflow):
                    tried = server
                    continue
                drawn = await self._draw(job, workflow, prompt_id, server, reporter)
                self._pool.mark_up(server)
                return drawn
            except IllustratorUnavailable as err:
                self._pool.mark_down(server, str(err))
                tried = server
                # Its socket may have failed after the prompt got in: the picture is drawn
                # elsewhere, so the old server must not draw it too.
                await self._forget(server, prompt_id)
                prompt_id = str(uuid.uuid4())  # a new server never saw the old id
            except RenderInterrupted:
                await reporter.picture_dropped(job)
                return None
            except (RenderFailed, WorkflowError) as err:
                log.warning(
                    "picture for segment %d failed on %s: %s", job.segment_id, server.name, err
                )
                failure = (
                    PictureFailure.WORKFLOW
                    if isinstance(err, WorkflowError)
                    else PictureFailure.RENDER
                )
                await reporter.picture_failed(job, failure, str(err))
                return None
            finally:
                self._pool.release(server)
        if not self._pool.runnable(workflow.name):
            log.warning("no ComfyUI server can run workflow %s", workflow.name)
            await reporter.picture_failed(
                job, PictureFailure.WORKFLOW, f"no server can draw the {workflow.name} style"
            )
            return None
        log.warning("no ComfyUI server could draw segment %d", job.segment_id)
        await reporter.picture_failed(job, PictureFailure.OUTAGE, "the illustrator is unavailable")
        return None

    async def _reattach(
        self,
        job: PictureJob,
        workflow: Workflow,
        prompt: SubmittedPrompt,
        drawing: _Drawing | None,
        reporter: PictureReporter,
    ) -> _Drawn | None:
        """The prompt submitted before a restart: fetched if it finished, waited for if its
        server still holds it. None when it must be drawn anew: unknown there (a ComfyUI
        restart), failed, interrupted, or its server gone or down."""
        server = self._pool.acquire_named(prompt.server)
        if server is None:
            log.info("prompt %s: %s is down or gone, drawn anew", prompt.prompt_id, prompt.server)
            await self.forget(prompt)  # in case it answers after all
            return None
        if drawing is not None:
            drawing.server, drawing.prompt_id = server, prompt.prompt_id
        try:
            if not await server.client.holds(prompt.prompt_id):
                log.info("prompt %s is unknown to %s, drawn anew", prompt.prompt_id, server.name)
                return None
            log.info("picture for segment %d: waiting again for %s", job.segment_id, server.name)
            drawn = await self._draw(job, workflow, prompt.prompt_id, server, reporter, prompt)
            self._pool.mark_up(server)
            return drawn
        except IllustratorUnavailable as err:
            self._pool.mark_down(server, str(err))
            await self._forget(server, prompt.prompt_id)
        except (RenderFailed, RenderInterrupted) as err:
            log.info("prompt %s on %s came to nothing (%s)", prompt.prompt_id, server.name, err)
        finally:
            self._pool.release(server)
        return None

    async def _checked(self, server: ComfyServer, workflow: Workflow) -> bool:
        """A server that did not answer at start is checked before its first picture;
        True when it can run `workflow`. IllustratorUnavailable when it still does not
        answer."""
        try:
            await check_server(server, self._workflows.values())
        except ServerTooOld as err:
            log.warning("%s", err)
        else:
            log_refusals(server)
        return server.can_run(workflow.name)

    async def _draw(
        self,
        job: PictureJob,
        workflow: Workflow,
        prompt_id: str,
        server: ComfyServer,
        reporter: PictureReporter,
        attached: SubmittedPrompt | None = None,
    ) -> _Drawn:
        """Draw on `server`; or, `attached`, follow that prompt submitted before."""
        if attached is None:
            if self._memory is not None:
                await self._memory.before_picture(server.client)
            # The shown character's own seed keeps their face; other pictures get a new one.
            seed = job.looks.seed if job.looks.seed is not None else self._rng.randrange(SEED_LIMIT)
            # Stored before it is sent: a kill right after still finds it on start.
            await reporter.picture_submitted(job, SubmittedPrompt(server.name, prompt_id, seed))
        else:
            seed = attached.seed
        # The workflow's own negative prompt stays: ours (and the rating's) is added to it.
        negative = merge_negative(str(workflow.value("negative") or ""), job.prompt.negative)
        chosen = self._workflows.get(job.workflow, self._workflow)
        if attached is None and needs_portrait(job, chosen):
            job = await draw_portrait(server.client, workflow, job, seed, negative, self._dir)
            workflow = chosen
        looks = await look_values(workflow, job, server.client)
        graph = workflow.render(
            {"positive": job.prompt.positive, "negative": negative, "seed": seed, **looks}
        )
        progress = Throttle(self._clock, self._interval)

        async def on_started() -> None:
            await reporter.picture_progress(job, 0)

        async def on_progress(percent: int) -> None:
            if progress.ready():
                await reporter.picture_progress(job, percent)

        # Submitted behind what ComfyUI already holds (one of ours drawing, other clients').
        ahead = await self._held([server], workflow.name)
        if ahead:
            await reporter.picture_queued(job, ahead)
        rendered = await server.client.draw(
            graph, prompt_id, on_progress, on_started, attach=attached is not None
        )
        return _Drawn(rendered, server, seed, job.looks.reference if job.looks.portrait_for else "")

    async def _store(self, job: PictureJob, drawn: _Drawn, reporter: PictureReporter) -> None:
        """The picture's file, then the report (which stores it and shows it)."""
        rendered, seed = drawn.rendered, drawn.seed
        folder = self._dir / str(job.session_id)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{job.segment_id}-{seed}.png"
        await asyncio.to_thread(path.write_bytes, rendered.data)
        log.info(
            "picture for segment %d drawn on %s in %.1fs (seed %d)",
            job.segment_id,
            drawn.server.name,
            rendered.seconds,
            seed,
        )
        portrait = drawn.portrait or earlier_portrait(self._dir, job, seed)
        picture = Picture(
            str(path), seed, drawn.server.name, rendered.prompt_id, rendered.seconds, portrait
        )
        await reporter.picture_ready(job, picture)
