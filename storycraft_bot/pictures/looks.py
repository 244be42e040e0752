"""A picture's looks in a workflow: the style's LoRA and VAE, the character's portrait as
the reference image (drawn first when there is none, uploaded to the server that draws),
and which workflow fits."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from storycraft_bot.core.errors import RenderFailed
from storycraft_bot.core.models import PictureJob
from storycraft_bot.pictures.comfyui import ComfyClient
from storycraft_bot.pictures.workflow import Workflow

log = logging.getLogger(__name__)

#: Our pictures in ComfyUI's input folder; named by their content, so an upload repeated
#: (another server, a restart) overwrites the very same file.
UPLOAD_FOLDER = "storycraft"


def workflow_for(job: PictureJob, chosen: Workflow, workflows: Mapping[str, Workflow]) -> Workflow:
    """`chosen`, unless it draws over a portrait the picture does not have: then its
    `without_reference` workflow (a LoadImage of a file never uploaded fails validation)."""
    if "reference_image" not in chosen.bindings or _has_reference(job):
        return chosen
    fallback = workflows.get(chosen.without_reference)
    if fallback is None or "reference_image" in fallback.bindings:
        fallback = next(
            (w for w in workflows.values() if "reference_image" not in w.bindings), chosen
        )
    return fallback


def _has_reference(job: PictureJob) -> bool:
    return bool(job.looks.reference) and Path(job.looks.reference).is_file()


async def look_values(
    workflow: Workflow, job: PictureJob, client: ComfyClient
) -> dict[str, object]:
    """Values for the workflow's look bindings it has: LoRA, VAE, the reference image."""
    values: dict[str, object] = {}
    style = job.looks.style
    bindings = workflow.bindings
    if style is not None and style.lora:
        if "lora_name" in bindings:
            values["lora_name"] = style.lora
            values["strength_model"] = style.lora_strength if "strength_model" in bindings else None
            values["strength_clip"] = style.lora_strength if "strength_clip" in bindings else None
        else:
            log.info("workflow %s takes no LoRA; style %s's is left out", workflow.name, style.name)
    if style is not None and style.vae:
        if "vae_name" in bindings:
            values["vae_name"] = style.vae
        else:
            log.info("workflow %s takes no VAE; style %s's is left out", workflow.name, style.name)
    if "reference_image" in bindings:
        values["reference_image"] = await upload_reference(client, job.looks.reference)
    return values


async def upload_reference(client: ComfyClient, path: str) -> str:
    """The portrait uploaded to `client`'s input folder; the LoadImage value for it."""
    try:
        data = await asyncio.to_thread(Path(path).read_bytes)
    except OSError as err:
        raise RenderFailed(f"the reference picture cannot be read: {err}") from err
    name = f"{hashlib.sha256(data).hexdigest()[:24]}.png"
    return await client.upload_image(data, name, UPLOAD_FOLDER)


def needs_portrait(job: PictureJob, chosen: Workflow) -> bool:
    """The story's workflow draws over a portrait, and the character shown has none yet."""
    return (
        bool(job.looks.portrait_prompt)
        and "reference_image" in chosen.bindings
        and not _has_reference(job)
    )


def portrait_path(folder: Path, job: PictureJob, seed: int) -> Path:
    """Where the portrait drawn for a job lies (found again after a restart)."""
    return folder / str(job.session_id) / f"portrait-{job.segment_id}-{seed}.png"


async def draw_portrait(
    client: ComfyClient,
    plain: Workflow,
    job: PictureJob,
    seed: int,
    negative: str,
    folder: Path,
) -> PictureJob:
    """Draw the character's portrait from their looks with `plain` (a workflow without a
    reference) and the character's seed, store it, and return the job with it as the
    reference. Its progress is not shown: players wait for the scene."""

    async def quiet(*_: object) -> None:
        return None

    values = await look_values(plain, job, client)
    graph = plain.render(
        {"positive": job.looks.portrait_prompt, "negative": negative, "seed": seed, **values}
    )
    rendered = await client.draw(graph, str(uuid.uuid4()), quiet, quiet)
    path = portrait_path(folder, job, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(path.write_bytes, rendered.data)
    log.info("portrait of %s drawn for segment %d", job.looks.character, job.segment_id)
    return replace(job, looks=replace(job.looks, reference=str(path)))


def earlier_portrait(folder: Path, job: PictureJob, seed: int) -> str:
    """The portrait drawn for this job before a restart ("" if none): a picture waited for
    again after a restart was drawn from it."""
    path = portrait_path(folder, job, seed)
    return str(path) if job.looks.portrait_for and path.is_file() else ""
