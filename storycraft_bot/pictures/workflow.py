"""ComfyUI workflows in API format ("Export (API)") and where our values go in them.

Bindings live beside the workflow file (`name.bindings.json`) and map each value we set
(positive, negative, seed, steps, width, height, checkpoint) to `"<node>.<input>"`, where
`<node>` is a node id or the node's `_meta.title`, so a user's own exported workflow works
without code changes.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from storycraft_bot.core.errors import WorkflowError

REQUIRED_BINDINGS = ("positive", "negative", "seed")
OPTIONAL_BINDINGS = (
    "steps",
    "width",
    "height",
    "checkpoint",
    # Pictures that keep their faces and style (issue 16).
    "denoise",
    "reference_image",  # a LoadImage's image: the shown character's uploaded portrait
    "lora_name",
    "strength_model",
    "strength_clip",
    "vae_name",
)
#: Not a binding: the workflow that draws a picture with no portrait to start from.
WITHOUT_REFERENCE = "without_reference"


@dataclass(frozen=True, slots=True)
class Binding:
    """One input of one node."""

    node_id: str
    input_name: str

    def __str__(self) -> str:
        return f"{self.node_id}.{self.input_name}"


@dataclass(frozen=True, slots=True)
class Workflow:
    """A loaded workflow and its resolved bindings."""

    name: str
    graph: Mapping[str, Any]
    bindings: Mapping[str, Binding]
    #: For a workflow with a reference_image: the one to use when there is none.
    without_reference: str = ""

    def render(self, values: Mapping[str, object]) -> dict[str, Any]:
        """A copy of the graph with `values` (by binding name) put in place."""
        graph = copy.deepcopy(dict(self.graph))
        for key, value in values.items():
            if value is None:
                continue
            binding = self.bindings.get(key)
            if binding is None:
                raise WorkflowError(f"workflow {self.name} has no binding for {key}")
            graph[binding.node_id]["inputs"][binding.input_name] = value
        return graph

    def with_values(self, values: Mapping[str, object]) -> Workflow:
        """The same workflow with some values fixed (settings' checkpoint, size, steps)."""
        return replace(self, graph=self.render(values))

    def value(self, key: str) -> object:
        """The value the file itself holds at a binding (e.g. its checkpoint)."""
        binding = self.bindings[key]
        return self.graph[binding.node_id]["inputs"].get(binding.input_name)

    def node_types(self) -> set[str]:
        return {str(node["class_type"]) for node in self.graph.values()}


def load_workflow(path: Path, bindings_path: Path | None = None) -> Workflow:
    """Read a workflow and its bindings; WorkflowError with one clear line when wrong."""
    bindings_path = bindings_path or path.with_name(f"{path.stem}.bindings.json")
    graph = _read_json(path, "workflow")
    raw_bindings = _read_json(bindings_path, "bindings")
    if not isinstance(graph, dict) or not all(
        isinstance(n, dict) and "class_type" in n and isinstance(n.get("inputs"), dict)
        for n in graph.values()
    ):
        raise WorkflowError(
            f'{path} is not in ComfyUI\'s API format (use "Export (API)" in ComfyUI)'
        )
    if not isinstance(raw_bindings, dict):
        raise WorkflowError(f"{bindings_path} must be a JSON object")
    missing = [key for key in REQUIRED_BINDINGS if key not in raw_bindings]
    if missing:
        raise WorkflowError(f"{bindings_path} lacks bindings for {', '.join(missing)}")
    titles = {
        str(node.get("_meta", {}).get("title")): node_id
        for node_id, node in graph.items()
        if isinstance(node.get("_meta"), dict)
    }
    resolved: dict[str, Binding] = {}
    for key in (*REQUIRED_BINDINGS, *OPTIONAL_BINDINGS):
        target = raw_bindings.get(key)
        if target is None:
            continue
        node_ref, dot, input_name = str(target).rpartition(".")
        node_id = node_ref if node_ref in graph else titles.get(node_ref)
        if not dot or node_id is None:
            raise WorkflowError(
                f"{bindings_path}: {key} points at {target!r}, but no node has that id or title"
            )
        if input_name not in graph[node_id]["inputs"]:
            raise WorkflowError(
                f"{bindings_path}: {key} points at {target!r}, but node {node_id} "
                f"({graph[node_id]['class_type']}) has no input {input_name!r}"
            )
        resolved[key] = Binding(node_id, input_name)
    return Workflow(path.stem, graph, resolved, str(raw_bindings.get(WITHOUT_REFERENCE) or ""))


def find_workflow(name_or_path: str, folder: Path) -> Path:
    """A workflow by name (in `folder`) or by path."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".json" and candidate.exists():
        return candidate
    named = folder / f"{name_or_path}.json"
    if named.exists():
        return named
    choices = sorted(p.stem for p in folder.glob("*.json") if not p.stem.endswith(".bindings"))
    raise WorkflowError(f"no workflow {name_or_path!r}; the choices are: {', '.join(choices)}")


NodeInfo = Callable[[str], Awaitable[Mapping[str, Any]]]


async def check_workflow(workflow: Workflow, node_info: NodeInfo, server: str) -> None:
    """Every node type exists on the server and a bound checkpoint is installed there.

    `node_info(type)` returns ComfyUI's `/object_info/{type}` entry ({} when unknown).
    """
    unknown = []
    infos: dict[str, Mapping[str, Any]] = {}
    for node_type in sorted(workflow.node_types()):
        info = await node_info(node_type)
        if not info:
            unknown.append(node_type)
        else:
            infos[node_type] = info
    if unknown:
        raise WorkflowError(
            f"workflow {workflow.name} uses node types that {server} does not have: "
            f"{', '.join(unknown)} (install the custom nodes or export the workflow again)"
        )
    if "checkpoint" not in workflow.bindings:
        return
    binding = workflow.bindings["checkpoint"]
    node_type = str(workflow.graph[binding.node_id]["class_type"])
    inputs = infos[node_type].get("input", {})
    spec = {**inputs.get("required", {}), **inputs.get("optional", {})}.get(binding.input_name)
    choices = spec[0] if isinstance(spec, list) and spec and isinstance(spec[0], list) else None
    wanted = workflow.value("checkpoint")
    if choices is not None and wanted not in choices:
        raise WorkflowError(
            f"checkpoint {wanted!r} is not installed on {server}; it has: "
            f"{', '.join(map(str, choices)) or 'none'} (set COMFYUI_CHECKPOINT)"
        )


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WorkflowError(f"{what} file {path} does not exist") from None
    except (OSError, json.JSONDecodeError) as err:
        raise WorkflowError(f"{what} file {path} cannot be read: {err}") from None
