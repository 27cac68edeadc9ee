"""ComfyUI's API prompt format, read into node records and written from them.

An API prompt is ``{node id: {"class_type", "inputs", "_meta": {"title"}}}``; an
input holding ``[node id, output index]`` is a link, anything else a constant
(lists as ``{"__value__": [...]}``). Reading normalises link ids to strings,
drops links to nodes that are not there (reported), keeps unknown node types as
placeholders (reported), and gives every node a position (``layout.py``) so an
editor can show it. Writing keeps an unchanged node's JSON as it was read.
"""

from __future__ import annotations

from typing import Any

from ..registry import NodeRegistry
from .jsondoc import MAX_NODES, copy_json
from .layout import layered_layout, node_size
from .levels import node_id, slot_index
from .modes import apply_modes
from .report import Report
from .source import Source, same

__all__ = ["convert_api", "is_api_prompt", "write_api"]


def is_api_prompt(data: Any) -> bool:
    """A dict whose entries are nodes with a ``class_type`` (and no ``nodes`` list)."""
    return (
        isinstance(data, dict)
        and "nodes" not in data
        and any(isinstance(v, dict) and "class_type" in v for v in data.values())
    )


def convert_api(prompt: dict, registry: NodeRegistry, report: Report) -> tuple[list[dict], Source]:
    """The records of an API prompt, and its ``Source``. Never raises."""
    source = Source(prompt, "api")
    entries: dict[str, dict] = {}
    for key, node in prompt.items():
        if len(entries) >= MAX_NODES:
            report.add("invalid", f"more than {MAX_NODES:,} nodes; the rest skipped")
            break
        local = node_id(key)
        if local is None:
            report.add("invalid", f"a node id of {len(key)} characters (skipped)")
            continue
        if not isinstance(node, dict) or not isinstance(node.get("class_type"), str):
            report.add("invalid", f"node {local} has no class_type (skipped)", node=local)
            continue
        entries[local] = node
        source.where[local] = (key,)
    records = []
    for local, node in entries.items():
        class_type = node["class_type"]
        raw_inputs = node.get("inputs", {})
        if not isinstance(raw_inputs, dict):
            report.add("invalid", "its inputs are not an object", node=local, class_type=class_type)
            raw_inputs = {}
        inputs = {}
        for name, value in raw_inputs.items():
            link = _api_link(value)
            if link is None:
                inputs[name] = value
            elif link[0] in entries:
                inputs[name] = link
            else:
                report.add(
                    "missing_link",
                    f"input {name!r}: it links to node {link[0]}, which is not in the prompt "
                    "(link dropped)",
                    node=local,
                    class_type=class_type,
                )
        meta = node.get("_meta")
        ui: dict[str, Any] = {}
        if isinstance(meta, dict):
            if isinstance(meta.get("title"), str):
                ui["title"] = meta["title"]
            if set(meta) - {"title"}:
                ui["_meta"] = copy_json(meta)
        if class_type not in registry:
            report.add("unknown_type", node=local, class_type=class_type, title=ui.get("title"))
        records.append(
            {
                "op": "add_node",
                "id": local,
                "class_type": class_type,
                "inputs": copy_json(inputs),
                "control": {},
                "ui": ui,
            }
        )
    _place(records, registry)
    return records, source


def _api_link(value: Any) -> list | None:
    if isinstance(value, list) and len(value) == 2:
        target, slot = node_id(value[0]), slot_index(value[1])
        if target is not None and slot is not None and not isinstance(value[0], float):
            return [target, slot]
    return None


def _place(records: list[dict], registry: NodeRegistry) -> None:
    """Positions and sizes for records that have none."""
    edges = {
        r["id"]: [v[0] for v in r["inputs"].values() if _api_link(v) is not None] for r in records
    }
    sizes = {r["id"]: _size(r, registry) for r in records}
    positions = layered_layout(edges, {n: s[1] for n, s in sizes.items()})
    for record in records:
        record["ui"].setdefault("pos", positions[record["id"]])
        record["ui"].setdefault("size", sizes[record["id"]])


def _size(record: dict, registry: NodeRegistry) -> list[float]:
    node_type = registry.get(record["class_type"])
    if node_type is None:
        return node_size(len(record["inputs"]), 1, 0)
    try:
        spec = node_type.spec()
    except Exception:
        return node_size(len(record["inputs"]), len(node_type.return_types), 0)
    links = sum(1 for i in spec.inputs if i.kind == "link")
    return node_size(links, len(node_type.return_types), len(spec.widgets))


def write_api(
    records: list[dict], registry: NodeRegistry, source: Source | None = None
) -> dict[str, dict]:
    """The API prompt of a graph's records: muted nodes left out, bypassed ones resolved,
    virtual placeholders left out, unknown node types kept. A node unchanged since it
    was read from an API prompt (``source``) is written as it was read."""
    nodes = [r for r in records if not r.get("ui", {}).get("virtual")]
    prompt = {r["id"]: {"class_type": r["class_type"], "inputs": dict(r["inputs"])} for r in nodes}
    modes = {
        r["id"]: r["ui"]["mode"] for r in nodes if isinstance(r.get("ui", {}).get("mode"), int)
    }
    prompt = apply_modes(prompt, {n: m for n, m in modes.items() if m}, registry)
    out: dict[str, dict] = {}
    by_id = {r["id"]: r for r in nodes}
    for node_key, entry in prompt.items():
        record = by_id[node_key]
        if (
            source is not None
            and source.kind == "api"
            and same(source.opened.get(node_key), record)
        ):
            out[node_key] = copy_json(source.document[source.where[node_key][0]])
            continue
        ui = record.get("ui", {})
        meta = dict(ui.get("_meta") or {})
        node_type = registry.get(record["class_type"])
        meta["title"] = ui.get("title") or (
            node_type.display_name if node_type else record["class_type"]
        )
        out[node_key] = {
            "inputs": copy_json(entry["inputs"]),
            "class_type": entry["class_type"],
            "_meta": meta,
        }
    return out
