"""Settings and ComfyUI workflow files."""

from importlib import resources
from pathlib import Path

from storycraft_bot.core.errors import WorkflowError


def shipped_workflows() -> Path:
    """The shipped `workflows/` folder, the same from a checkout and any install."""
    folder = resources.files("config") / "workflows"
    if not isinstance(folder, Path):  # only a zip import gives another kind; we ship none
        raise WorkflowError(f"the shipped workflows are not in a folder ({folder})")
    return folder
