"""Opening anything that may hold a ComfyUI graph: one entry point that never raises.

``read_workflow(source, registry)`` takes a dict (a workflow or an API prompt),
JSON text or bytes, or PNG bytes; ``read_workflow_file(path, registry)`` a
file. Both return an ``Opened``: the node records (``add_node`` edit ops) to
build a ``Graph`` from, the workflow-level data for ``Graph.document``, the
``Report``, and the ``Source`` the writers need to save back losslessly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ..registry import NodeRegistry
from .api import convert_api, is_api_prompt
from .convert import convert_workflow
from .jsondoc import MAX_FILE_BYTES, DocumentError, copy_json, parse_json, plain_json
from .levels import spec_of
from .png import PngError, is_png, read_png_text
from .report import Report
from .source import Source
from .write import GRAPH_IDS_KEY, STRUCTURAL_KEYS

__all__ = ["Opened", "read_workflow", "read_workflow_file"]


@dataclass
class Opened:
    """What a reader made of one file (see the module docstring)."""

    nodes: list[dict] = field(default_factory=list)  # add_node records, in file order
    document: dict = field(default_factory=dict)  # workflow-level data (Graph.document)
    report: Report = field(default_factory=Report)
    source: Source | None = None


def read_workflow_file(path: str | os.PathLike, registry: NodeRegistry) -> Opened:
    """Read a workflow JSON, an API prompt JSON or a PNG file. ``OSError`` if it cannot
    be opened; anything in it goes to the report."""
    name = os.path.basename(os.fspath(path))
    with open(path, "rb") as f:
        if is_png(f.read(8)):
            f.seek(0)  # a PNG is walked chunk by chunk: its pixels are never read
            return _guarded(lambda: _png(f, registry, name), name)
        f.seek(0)
        data = f.read(MAX_FILE_BYTES + 1)
    return read_workflow(data, registry, name)


def read_workflow(source: Any, registry: NodeRegistry, name: str = "<workflow>") -> Opened:
    """Read a dict, JSON text or bytes, or PNG bytes (see the module docstring). Never raises."""
    return _guarded(lambda: _read(source, registry, name), name)


def _guarded(read, name: str) -> Opened:
    try:
        return read()
    except Exception as exc:  # a reader bug: reported, never a crash
        opened = _unreadable(name, "unknown", "")
        opened.report.add("internal", f"{type(exc).__name__}: {exc}")
        return opened


def _read(source: Any, registry: NodeRegistry, name: str) -> Opened:
    if isinstance(source, (bytes, bytearray)) and is_png(bytes(source[:8])):
        return _png(bytes(source), registry, name)
    if isinstance(source, (bytes, bytearray)) and _media_kind(bytes(source[:16])):
        return _unreadable(
            name,
            _media_kind(bytes(source[:16])),
            f"it is a {_media_kind(bytes(source[:16]))} file: workflows are read from PNG images "
            "and JSON files only",
        )
    if isinstance(source, (str, bytes, bytearray)):
        try:
            data = parse_json(bytes(source) if isinstance(source, bytearray) else source)
        except DocumentError as exc:
            return _unreadable(name, "json", str(exc))
        return _from_data(data, registry, name, "")
    problems: list[str] = []
    data = plain_json(source, problems)
    opened = _from_data(data, registry, name, "")
    for problem in problems:
        opened.report.add("invalid", f"{problem} (left out)")
    return opened


MEDIA = ((b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"), (b"\x1aE\xdf\xa3", "WebM"))


def _media_kind(head: bytes) -> str | None:
    """The kind of a media file ComfyUI can save workflows into but we do not read."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[4:8] == b"ftyp":
        return "MP4/AVIF"
    return next((kind for magic, kind in MEDIA if head.startswith(magic)), None)


def _png(source, registry: NodeRegistry, name: str) -> Opened:
    try:
        texts = read_png_text(source)
    except PngError as exc:
        return _unreadable(name, "png", str(exc))
    return _from_png(texts, registry, name)


def _from_data(data: Any, registry: NodeRegistry, name: str, container: str) -> Opened:
    report = Report(source=name)
    extra_data = data.get("extra_data") if isinstance(data, dict) else None
    pnginfo = extra_data.get("extra_pnginfo") if isinstance(extra_data, dict) else None
    if isinstance(pnginfo, dict) and isinstance(pnginfo.get("workflow"), dict):
        # A /prompt request body: its workflow has the layout the prompt lacks.
        return _from_data(pnginfo["workflow"], registry, name, container)
    for key in ("workflow", "prompt"):  # a wrapper: {"workflow": {...}} or {"prompt": {...}}
        wrapped = isinstance(data, dict) and "nodes" not in data and not is_api_prompt(data)
        if wrapped and isinstance(data.get(key), dict):
            return _from_data(data[key], registry, name, container)
    if isinstance(data, dict) and "nodes" in data:
        version = data.get("version")
        report.format = container + ("workflow 1.0" if version == 1 else "workflow 0.4")
        records, source = convert_workflow(data, registry, report)
        document = {k: copy_json(v) for k, v in data.items() if k not in STRUCTURAL_KEYS}
    elif is_api_prompt(data):
        report.format = container + "api"
        records, source = convert_api(data, registry, report)
        document = {}
    else:
        what = (
            f"an object with keys {', '.join(list(data)[:8])}"
            if isinstance(data, dict)
            else (f"a JSON {type(data).__name__}")
        )
        report.format = container.strip() or "json"
        report.add("file", f"it is not a ComfyUI workflow or API prompt ({what})")
        return Opened(report=report)
    return _opened(records, document, report, source, registry)


def _opened(records, document, report, source, registry) -> Opened:
    records = copy_json(records)
    source.opened = {r["id"]: copy_json(r) for r in records}
    report.nodes = len(records)
    report.runnable = sum(
        1 for r in records if r["class_type"] in registry and not r["ui"].get("virtual")
    )
    return Opened(records, document, report, source)


def _from_png(texts: dict[str, str], registry: NodeRegistry, name: str) -> Opened:
    """A PNG's ``workflow`` chunk (else its ``prompt``); seeds of the prompt (what ran) win."""
    prompt = None
    if "prompt" in texts:
        try:
            prompt = parse_json(texts["prompt"])
        except DocumentError:
            prompt = None
    if "workflow" in texts:
        try:
            workflow = parse_json(texts["workflow"])
        except DocumentError as exc:
            workflow = None
            reason = str(exc)
        if workflow is not None:
            opened = _from_data(workflow, registry, name, "png ")
            if opened.source is not None and isinstance(prompt, dict):
                extra = workflow.get("extra") if isinstance(workflow, dict) else None
                renamed = extra.get(GRAPH_IDS_KEY) if isinstance(extra, dict) else None
                _seeds_from_prompt(opened.nodes, prompt, registry, renamed)
            return opened
        if prompt is None:
            return _unreadable(name, "png", f"its workflow chunk cannot be read: {reason}")
    if prompt is not None:
        return _from_data(prompt, registry, name, "png ")
    chunks = ", ".join(sorted(texts)) or "none"
    return _unreadable(
        name, "png", f"it holds no ComfyUI workflow or prompt (text chunks: {chunks})"
    )


def _seeds_from_prompt(
    records: list[dict], prompt: dict, registry: NodeRegistry, renamed: Any
) -> None:
    """Controlled inputs take the prompt chunk's values: what ran (a batch's PNGs share one
    workflow chunk but each has its own seeds). ``renamed``: workflow id -> the id the
    prompt gives the node, for a graph built in code (``write.GRAPH_IDS_KEY``)."""
    renamed = renamed if isinstance(renamed, dict) else {}
    for record in records:
        ran = prompt.get(record["id"])
        if ran is None and isinstance(renamed.get(record["id"]), str):
            ran = prompt.get(renamed[record["id"]])
        spec = spec_of(registry, record["class_type"])
        if not isinstance(ran, dict) or ran.get("class_type") != record["class_type"] or not spec:
            continue
        inputs = ran.get("inputs") if isinstance(ran.get("inputs"), dict) else {}
        for name in spec.controlled:
            value, current = inputs.get(name), record["inputs"].get(name)
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if number and current is not None and not isinstance(current, list):
                record["inputs"][name] = value


def _unreadable(name: str, fmt: str, reason: str) -> Opened:
    report = Report(source=name, format=fmt)
    if reason:
        report.add("file", reason)
    return Opened(report=report)
