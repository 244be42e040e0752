"""What each ComfyUI server can do: its version, and which workflows it can run.

Checked at start for every server that answers, and before the first picture on a server
that did not. A workflow whose node types or checkpoint a server lacks is recorded on that
server (the caller logs it once): pictures in that workflow go to other servers, and a workflow no
server can run is not offered to players. A picture style whose LoRA or VAE no server has
is not offered either.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from storycraft_bot.core.errors import IllustratorUnavailable, ServerTooOld, WorkflowError
from storycraft_bot.core.styles import StyleBook
from storycraft_bot.pictures.comfy_pool import ComfyServer
from storycraft_bot.pictures.workflow import Workflow, check_workflow

log = logging.getLogger(__name__)


async def check_server(server: ComfyServer, workflows: Iterable[Workflow]) -> None:
    """Read the server's version and check each workflow against its /object_info.

    IllustratorUnavailable when it does not answer (it stays unchecked); ServerTooOld when
    its ComfyUI is too old (then it is recorded as running nothing).
    """
    client = server.client
    try:
        await client.check_version()
    except ServerTooOld as err:
        server.cannot_run.update({workflow.name: str(err) for workflow in workflows})
        server.checked = True
        raise
    for workflow in workflows:
        try:
            await check_workflow(workflow, client.node_info, client.base_url)
        except WorkflowError as err:
            server.cannot_run[workflow.name] = str(err)
    server.checked = True


def log_refusals(server: ComfyServer) -> None:
    """One line per workflow the server cannot run, with the reason."""
    for name, reason in sorted(server.cannot_run.items()):
        log.warning("workflow %s is not sent to %s: %s", name, server.name, reason)


#: The core loader nodes whose `/object_info` lists the files a style may name.
_STYLE_FILES = (("lora", "LoraLoader", "lora_name"), ("vae", "VAELoader", "vae_name"))


async def style_refusals(
    servers: Sequence[ComfyServer], book: StyleBook, workflows: Collection[str]
) -> dict[str, str]:
    """Why a style cannot be drawn, by name: its workflow is not offered, or its LoRA or
    VAE is on none of the answering servers (checked against their /object_info lists).
    Servers that do not answer are not held against a style."""
    refusals: dict[str, str] = {}
    installed: dict[str, set[str]] = {"lora": set(), "vae": set()}
    asked = 0
    for server in servers:
        try:
            for kind, node_type, input_name in _STYLE_FILES:
                installed[kind] |= _choices(await server.client.node_info(node_type), input_name)
            asked += 1
        except IllustratorUnavailable as err:
            log.warning("%s; its LoRA and VAE files are not checked", err)
    for style in book.styles.values():
        if style.workflow and style.workflow not in workflows:
            refusals[style.name] = f"its workflow {style.workflow} is not offered"
            continue
        for kind, node_type, _ in _STYLE_FILES:
            wanted = str(getattr(style, kind))
            if asked and wanted and wanted not in installed[kind]:
                refusals[style.name] = (
                    f"its {kind.upper()} {wanted!r} is on no ComfyUI server ({node_type} lists: "
                    f"{', '.join(sorted(installed[kind])) or 'none'})"
                )
    for name, reason in sorted(refusals.items()):
        log.warning("picture style %s is not offered: %s", name, reason)
    return refusals


def _choices(info: Mapping[str, Any], input_name: str) -> set[str]:
    """The file names a loader's /object_info entry offers for `input_name`."""
    inputs = info.get("input", {})
    spec = {**inputs.get("required", {}), **inputs.get("optional", {})}.get(input_name)
    if isinstance(spec, list) and spec and isinstance(spec[0], list):
        return {str(name) for name in spec[0]}
    return set()
