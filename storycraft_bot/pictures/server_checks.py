"""What each ComfyUI server can do: its version, and which workflows it can run.

Checked at start for every server that answers, and before the first picture on a server
that did not. A workflow whose node types or checkpoint a server lacks is recorded on that
server (the caller logs it once): pictures in that workflow go to other servers, and a workflow no
server can run is not offered to players.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from storycraft_bot.core.errors import ServerTooOld, WorkflowError
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
