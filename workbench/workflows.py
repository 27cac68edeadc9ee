"""ComfyUI workflows in a session: opened into a ``Graph``, saved from one (``wb.open`` / ``wb.save``).

The formats are ``engine.workflow``'s (``docs/workflow-format.md``); this module
adds files and folders: the current ones (``nodes.folders.current()``, a
session's inside ``folders.using``). Reading takes a path the user gives, else a
file of that name in the input folder (then the output folder, where the
session's images are). Writing stays inside the data folder: a relative name
goes into the output folder, an absolute path must lie inside the data folder.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

from engine import NodeRegistry
from engine.workflow import (
    Report,
    embed_png_text,
    read_workflow,
    read_workflow_file,
    write_api,
    write_workflow,
)
from nodes import folders
from nodes.io import metadata_json

from .graph import Graph

__all__ = ["find_workflow_file", "open_graph", "prompt_of", "save_graph", "workflow_of"]


def open_graph(
    source: Any, registry: NodeRegistry, name: str | None = None
) -> tuple[Graph, Report]:
    """(graph, report) of a workflow: a path (``find_workflow_file``), a dict (workflow or
    API prompt), JSON text, or PNG bytes. Whatever the file holds goes to the report;
    a file that cannot be found or opened raises ``OSError`` naming it."""
    if isinstance(source, os.PathLike) or (isinstance(source, str) and not _is_json_text(source)):
        path = find_workflow_file(source)
        try:
            opened = read_workflow_file(path, registry)
        except OSError as exc:
            raise type(exc)(f"cannot read workflow file {path}: {exc.strerror or exc}") from None
    else:
        opened = read_workflow(source, registry, name or "<workflow>")
    graph = Graph.from_nodes(opened.nodes, registry, opened.document, opened.source)
    return graph, opened.report


def _is_json_text(text: str) -> bool:
    return text.lstrip()[:1] in ("{", "[")


def find_workflow_file(name: str | os.PathLike) -> Path:
    """``name`` as a path if it is a file, else that file in the input or output folder."""
    path = Path(name).expanduser()
    if path.is_file():
        return path
    for kind in ("input", "output"):
        try:
            candidate = Path(folders.resolve(os.fspath(name), kind))
        except (folders.PathEscapeError, ValueError):
            continue
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"no workflow file {os.fspath(name)!r}: not a file, nor a file of that name in the "
        f"input folder ({folders.get_input_directory()}) or the output folder"
    )


def workflow_of(graph: Graph) -> tuple[dict, list[str]]:
    """(the graph as a UI workflow, notes on what could not be written into it)."""
    return write_workflow(graph.node_records(), graph.document, graph._registry, graph.opened_from)


def prompt_of(graph: Graph) -> dict:
    """The graph as an API prompt with ``_meta`` titles (ComfyUI's "Export (API)")."""
    return write_api(graph.node_records(), graph._registry, graph.opened_from)


def save_graph(graph: Graph, path: str | os.PathLike, api: bool | None = None) -> Path:
    """Write ``graph`` to ``path`` by its extension; returns the path written.

    ``.json``: a UI workflow (an API prompt with ``api=True`` or a name ending in
    ``.api.json``); ``.png``: the prompt and workflow written into that existing
    image's text chunks, its pixels unchanged. What a workflow cannot hold of
    the graph is named in one warning.
    """
    target = _save_path(path)
    suffix = target.name.lower()
    if suffix.endswith(".png"):
        if not target.is_file():
            raise FileNotFoundError(
                f"{target}: saving to a .png writes the workflow into an existing image; "
                "there is no image there"
            )
        workflow, notes = workflow_of(graph)
        chunks = {"prompt": _json(prompt_of(graph)), "workflow": _json(workflow)}
        data = embed_png_text(target.read_bytes(), chunks)
    elif suffix.endswith(".json"):
        if api or (api is None and suffix.endswith(".api.json")):
            notes, text = [], _json(prompt_of(graph), indent=2)
        else:
            workflow, notes = workflow_of(graph)
            text = _json(workflow, indent=2)
        data = text.encode("utf-8")
    else:
        raise ValueError(f"{target.name}: save to a .json (workflow or API prompt) or a .png file")
    _write_atomically(target, data)
    if notes:
        warnings.warn(
            f"{target.name}: saved, but not everything of the graph fits a workflow:\n  "
            + "\n  ".join(notes),
            stacklevel=3,
        )
    return target


def _json(value: Any, indent: int | None = None) -> str:
    """JSON as ComfyUI writes it (``NaN`` kept). A graph built in code may hold any
    Python value as a constant: what JSON cannot hold is written as SaveImage's
    metadata writes it, a stand-in saying what was there (``nodes.io.metadata_json``)."""
    text = metadata_json(value)
    return text if indent is None else json.dumps(json.loads(text), indent=indent)


def _save_path(path: str | os.PathLike) -> Path:
    """Where to write ``path``: relative names in the output folder; nothing outside the data folder."""
    if not os.path.isabs(path):
        return Path(folders.resolve(os.fspath(path), "output"))
    target = Path(path).resolve()
    base = Path(folders.get_base_directory()).resolve()
    if target != base and base not in target.parents:
        raise folders.PathEscapeError(
            f"{target}: workflows are saved inside the data folder ({base}); give a name "
            "relative to its output folder, or a path inside it"
        )
    return target


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
        os.replace(temp, target)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
