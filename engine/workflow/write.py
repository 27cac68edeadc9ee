"""A graph's node records written as a UI workflow.

Two ways (``docs/workflow-format.md``, "Write"):

- *patched*, for a graph opened from a workflow (a ``Source``): the original
  document is copied and only what changed since opening is regenerated; an
  unchanged node keeps its JSON exactly; what cannot be expressed is returned
  as notes (the caller warns);
- *fresh*, for a graph built in code (or opened from an API prompt): a version
  0.4 workflow, each node with its spec's slots and ``widgets_values``, a
  layered layout for nodes without a position.

Paths in the ``Source`` index the original lists, so nodes and links removed
while patching are only marked, and taken out at the end.
"""

from __future__ import annotations

import json
from typing import Any

from ..graph import is_link
from ..registry import NodeRegistry
from .convert import UI_ONLY_KEYS
from .jsondoc import copy_json
from .layout import layered_layout, node_size
from .levels import pair, spec_of
from .source import Source, at_path, same
from .widgets import fresh_widget_values, from_wire, write_widget_values

__all__ = ["GRAPH_IDS_KEY", "STRUCTURAL_KEYS", "write_workflow"]

# Top-level keys the writer owns; every other key of a workflow is Graph.document's.
STRUCTURAL_KEYS = ("nodes", "links", "last_node_id", "last_link_id")
GRAPH_IDS_KEY = "workbench_ids"  # extra[...]: workflow id -> the graph's id, where they differ
_ABSENT: Any = object()


def write_workflow(
    records: list[dict], document: dict, registry: NodeRegistry, source: Source | None = None
) -> tuple[dict, list[str]]:
    """(the UI workflow of ``records``, notes on what could not be written)."""
    if source is not None and source.kind == "workflow":
        return _Patch(records, document, registry, source).run()
    return _fresh(records, document, registry), []


# --- fresh ---


def _fresh(records: list[dict], document: dict, registry: NodeRegistry) -> dict:
    ids = _numeric_ids([r["id"] for r in records], set(), 1)
    positions = _layout(records, registry)
    nodes = {}
    for order, record in enumerate(records):
        nodes[record["id"]] = _node(record, ids[record["id"]], order, registry, positions)
    links: list = []
    writer = _Links(links, "list", 1, registry)
    for record in records:
        for name, value in record["inputs"].items():
            if is_link(value) and value[0] in nodes:
                writer.add(nodes[value[0]], value[1], nodes[record["id"]], name, record)
    workflow = {
        "last_node_id": max(ids.values(), default=0),
        "last_link_id": writer.next_id - 1,
        "nodes": list(nodes.values()),
        "links": links,
        "groups": [],
        "config": {},
        "extra": {"ds": {"scale": 1, "offset": [0, 0]}},
        "version": 0.4,
    }
    workflow.update({k: copy_json(v) for k, v in document.items() if k not in STRUCTURAL_KEYS})
    renamed = {str(n): graph_id for graph_id, n in ids.items() if str(n) != graph_id}
    if renamed:  # a run's prompt names nodes by graph id: the PNG reader maps them back
        extra = workflow["extra"] if isinstance(workflow.get("extra"), dict) else {}
        workflow["extra"] = {**extra, GRAPH_IDS_KEY: renamed}
    return workflow


def _numeric_ids(graph_ids: list[str], used: set[int], start: int) -> dict[str, int]:
    """Workflow ids: a graph id that is a free decimal number keeps it; others count on."""
    ids: dict[str, int] = {}
    for graph_id in graph_ids:
        numeric = graph_id.isdigit() and len(graph_id) < 16 and str(int(graph_id)) == graph_id
        if numeric and int(graph_id) not in used:
            ids[graph_id] = int(graph_id)
            used.add(int(graph_id))
    counter = max([start - 1, *used]) + 1
    for graph_id in graph_ids:
        if graph_id not in ids:
            ids[graph_id] = counter
            used.add(counter)
            counter += 1
    return ids


def _layout(records: list[dict], registry: NodeRegistry) -> dict[str, list[float]]:
    edges = {r["id"]: [v[0] for v in r["inputs"].values() if is_link(v)] for r in records}
    sizes = {r["id"]: _size(r, registry) for r in records}
    return layered_layout(edges, {n: s[1] for n, s in sizes.items()})


def _size(record: dict, registry: NodeRegistry) -> list[float]:
    size = pair(record.get("ui", {}).get("size"))
    if size is not None:
        return size
    spec, node_type = _spec(record, registry)
    if spec is None:
        return node_size(
            len(record["inputs"]), 1, len(record.get("ui", {}).get("widgets_values") or [])
        )
    links = sum(1 for i in spec.inputs if i.kind == "link")
    return node_size(links, len(node_type.return_types), len(spec.widgets))


def _spec(record: dict, registry: NodeRegistry):
    if record.get("ui", {}).get("virtual"):
        return None, None
    node_type = registry.get(record["class_type"])
    if node_type is None:
        return None, None
    try:
        return node_type.spec(), node_type
    except Exception:  # a broken INPUT_TYPES(): written like an unknown node
        return None, None


def _node(record: dict, workflow_id: Any, order: int, registry: NodeRegistry, positions) -> dict:
    """A new node object for ``record`` (its links are filled in by ``_Links``)."""
    ui = {k: copy_json(v) for k, v in record.get("ui", {}).items() if k not in UI_ONLY_KEYS}
    spec, node_type = _spec(record, registry)
    node: dict[str, Any] = {
        "id": workflow_id,
        "type": record["class_type"],
        "pos": positions.get(record["id"], [0.0, 0.0]),
        "size": _size(record, registry),
        "flags": {},
        "order": order,
        "mode": 0,
    }
    inputs = record["inputs"]
    if spec is not None:
        slots = []
        for declared in spec.inputs:
            if declared.kind == "link":
                slots.append(
                    {"name": declared.name, "type": _type_name(declared.type), "link": None}
                )
            elif is_link(inputs.get(declared.name)):
                slots.append(
                    {
                        "name": declared.name,
                        "type": _type_name(declared.type),
                        "widget": {"name": declared.name},
                        "link": None,
                    }
                )
        declared_names = {s["name"] for s in slots} | set(spec.by_name)
        slots += [
            {"name": n, "type": "*", "link": None}
            for n, v in inputs.items()
            if is_link(v) and n not in declared_names
        ]
        node["inputs"] = slots
        node["outputs"] = [
            {"name": name, "type": _type_name(t), "links": []}
            for name, t in zip(node_type.return_names, node_type.return_types, strict=False)
        ]
        node["properties"] = {"Node name for S&R": record["class_type"]}
        values = {n: from_wire(v) for n, v in inputs.items() if not is_link(v)}
        node["widgets_values"] = fresh_widget_values(
            spec.widgets, values, record.get("control", {})
        )
    else:  # a placeholder: its slots as it had them, links refilled
        node["inputs"] = [_unlinked(s, "link") for s in ui.pop("inputs", []) if isinstance(s, dict)]
        names = {s.get("name") for s in node["inputs"]}
        node["inputs"] += [
            {"name": n, "type": "*", "link": None}
            for n, v in inputs.items()
            if is_link(v) and n not in names
        ]
        node["outputs"] = [
            _unlinked(s, "links") for s in ui.pop("outputs", []) if isinstance(s, dict)
        ]
        node["properties"] = {}
    node.update(ui)
    for key in ("pos", "size"):
        node[key] = pair(node.get(key)) or node_size(0, 0, 0)
    return node


def _unlinked(slot: dict, key: str) -> dict:
    slot = copy_json(slot)
    slot[key] = [] if key == "links" else None
    return slot


def _type_name(input_type: Any) -> Any:
    return "COMBO" if isinstance(input_type, list) else input_type


MAX_SLOTS = 1_000  # outputs of one node; a link beyond is not written


class _Links:
    """Adds links to a workflow's ``links`` list and the nodes' slots."""

    def __init__(self, links: list, style: str, next_id: int, registry: NodeRegistry):
        self.links = links
        self.style = style
        self.next_id = next_id
        self.registry = registry

    def add(self, origin: dict, slot: Any, target: dict, name: str, record: dict) -> int | None:
        """The new link's id, or None for a slot no node has (negative, fractional, NaN,
        or absurdly high)."""
        if isinstance(slot, float):
            slot = int(slot) if slot.is_integer() else -1
        if not 0 <= slot < MAX_SLOTS:
            return None
        link_id = self.next_id
        self.next_id += 1
        outputs = origin.setdefault("outputs", [])
        if not isinstance(outputs, list):
            outputs = origin["outputs"] = []
        link_type = "*"
        if slot < len(outputs) and isinstance(outputs[slot], dict):
            link_type = outputs[slot].get("type", "*")
        else:
            node_type = self.registry.get(origin.get("type"))
            if node_type is not None and slot < len(node_type.return_types):
                link_type = _type_name(node_type.return_types[slot])
            while len(outputs) <= slot:
                outputs.append({"name": f"output {len(outputs)}", "type": link_type, "links": []})
        if not isinstance(outputs[slot].get("links"), list):
            outputs[slot]["links"] = []
        outputs[slot]["links"].append(link_id)
        inputs = target.setdefault("inputs", [])
        if not isinstance(inputs, list):
            inputs = target["inputs"] = []
        index = next(
            (i for i, s in enumerate(inputs) if isinstance(s, dict) and s.get("name") == name), None
        )
        if index is None:
            entry = {"name": name, "type": link_type, "link": None}
            spec = spec_of(self.registry, target.get("type"))
            declared = spec.input(name) if spec is not None else None
            if declared is not None and declared.kind == "widget":
                entry["widget"] = {"name": name}
            inputs.append(entry)
            index = len(inputs) - 1
        inputs[index]["link"] = link_id
        ends = (origin["id"], slot, target["id"], index)
        if self.style == "object":
            self.links.append(
                dict(
                    zip(
                        ("id", "origin_id", "origin_slot", "target_id", "target_slot", "type"),
                        (link_id, *ends, link_type),
                        strict=True,
                    )
                )
            )
        else:
            self.links.append([link_id, *ends, link_type])
        return link_id


# --- patched ---


class _Patch:
    def __init__(self, records, document, registry, source: Source):
        self.registry = registry
        self.source = source
        self.current = {r["id"]: r for r in records}
        self.notes: list[str] = []
        out = copy_json(source.document)
        for key in list(out):
            if key not in STRUCTURAL_KEYS and key not in document:
                del out[key]
        out.update({k: copy_json(v) for k, v in document.items() if k not in STRUCTURAL_KEYS})
        # A document without a nodes or links list keeps what it had, unless nodes are added.
        self.lists = {k: out.get(k) for k in ("nodes", "links") if not isinstance(out.get(k), list)}
        for key in self.lists:
            out[key] = []
        self.out = out
        self.dropped_nodes: set[int] = set()  # id() of node objects to take out
        self.dropped_links: set[str] = set()  # link ids to take out (as _key)
        self.added: dict[str, dict] = {}
        state = out.get("state") if isinstance(out.get("state"), dict) else {}
        last_link = max(
            [_int(out.get("last_link_id")), _int(state.get("lastLinkId"))]
            + [_int(_link_id(entry)) for entry in out["links"]]
        )
        self.links = _Links(out["links"], source.link_style, last_link + 1, registry)
        self.first_link = last_link + 1

    def run(self) -> tuple[dict, list[str]]:
        opened = self.source.opened
        for node_id in opened:
            if node_id not in self.current:
                self._remove(node_id)
        new = [n for n in self.current if n not in opened]
        self._add_nodes(new)
        for node_id, record in self.current.items():
            if node_id in opened and not same(record, opened[node_id]):
                self._patch(node_id, record, opened[node_id])
        for node_id in new:
            for name, value in self.current[node_id]["inputs"].items():
                if is_link(value):
                    self._link(node_id, name, value)
        self._finish()
        return self.out, self.notes

    # nodes

    def _top(self, node_id: str) -> dict | None:
        """The node object of a top-level (or added) node of the graph."""
        if node_id in self.added:
            return self.added[node_id]
        path = self.source.where.get(node_id)
        if path is None or len(path) != 2 or path[0] != "nodes":
            return None
        return at_path(self.out, path)

    def _remove(self, node_id: str) -> None:
        node = self._top(node_id)
        if node is None:
            self.notes.append(f"node {node_id} was removed inside a subgraph: not saved")
            return
        self.dropped_nodes.add(id(node))
        for entry in self.out["links"]:
            ends = _link_ends(entry)
            if ends is not None and node.get("id") in (ends[1], ends[3]):
                self._drop_link(_link_id(entry))
        if self.source.opened[node_id].get("ui", {}).get("virtual") == "reroute":
            self.notes.append(f"reroute {node_id} was removed: links through it are not redrawn")

    def _add_nodes(self, new: list[str]) -> None:
        if not new:
            return
        top = [n for n in self.out["nodes"] if isinstance(n, dict)]
        used = {_int(n.get("id")) for n in top}
        state = self.out.get("state") if isinstance(self.out.get("state"), dict) else {}
        start = max([_int(self.out.get("last_node_id")), _int(state.get("lastNodeId")), *used]) + 1
        ids = _numeric_ids(new, used, start)
        records = [self.current[n] for n in new]
        positions = _layout(records, self.registry)
        right = max(
            (
                p[0] + s[0]
                for p, s in ((pair(n.get("pos")), pair(n.get("size"))) for n in top)
                if p and s
            ),
            default=0.0,
        )
        shifted = {k: [v[0] + right + 100.0, v[1]] for k, v in positions.items()}
        for record in records:
            node = _node(record, ids[record["id"]], len(self.out["nodes"]), self.registry, shifted)
            self.out["nodes"].append(node)
            self.added[record["id"]] = node

    def _patch(self, node_id: str, record: dict, opened: dict) -> None:
        node = at_path(self.out, self.source.where.get(node_id, ()))
        if not isinstance(node, dict):
            self.notes.append(f"node {node_id}: not found in the original workflow, not saved")
            return
        for key in set(record.get("ui", {})) | set(opened.get("ui", {})):
            if key in UI_ONLY_KEYS:
                continue
            new, old = (
                record.get("ui", {}).get(key, _ABSENT),
                opened.get("ui", {}).get(key, _ABSENT),
            )
            if new is _ABSENT:
                node.pop(key, None)
            elif old is _ABSENT or not same(new, old):
                node[key] = copy_json(new)
        values, links = {}, {}
        names = set(record["inputs"]) | set(opened["inputs"])
        for name in sorted(names):
            new = record["inputs"].get(name, _ABSENT)
            old = opened["inputs"].get(name, _ABSENT)
            if new is _ABSENT and old is _ABSENT:
                continue
            if new is not _ABSENT and old is not _ABSENT and same(new, old):
                continue
            if new is not _ABSENT and is_link(new):
                links[name] = new
            elif new is _ABSENT:
                if is_link(old):
                    links[name] = None
            else:
                values[name] = from_wire(new)
                if old is not _ABSENT and is_link(old):
                    links[name] = None
        controls = {
            name: mode
            for name, mode in record.get("control", {}).items()
            if opened.get("control", {}).get(name) != mode
        }
        self._write_values(node_id, node, record, values, controls)
        for name, value in links.items():
            self._link(node_id, name, value)

    def _own(self, node_id, changes: dict, origins: dict) -> dict:
        """Of ``changes`` (name -> value), those the node's own widgets hold; the others
        are written where they came from (a PrimitiveNode, a promoted widget)."""
        own = {}
        for name, value in changes.items():
            origin = origins.get((node_id, name))
            if origin is None or origin[0] == "own":
                own[name] = value
            else:
                self._set_at(origin, value)
        return own

    def _write_values(self, node_id, node, record, values: dict, controls: dict) -> None:
        own_values = self._own(node_id, values, self.source.values)
        own_controls = self._own(node_id, controls, self.source.controls)
        if not own_values and not own_controls:
            return
        spec, _ = _spec(record, self.registry)
        read = self.source.widgets.get(node_id)
        if spec is None or read is None:
            self.notes.append(f"node {node_id}: its widget values could not be written")
            return
        node["widgets_values"] = write_widget_values(
            read, node.get("widgets_values"), spec.widgets, own_values, own_controls
        )
        named = node.get("widgets_values_named")
        if isinstance(named, dict):
            named.update({n: v for n, v in own_values.items() if n in named})

    def _set_at(self, origin: tuple, value: Any) -> None:
        holder = at_path(self.out, origin[1])
        values = holder.get("widgets_values") if isinstance(holder, dict) else None
        index = origin[2]
        if isinstance(values, list) and isinstance(index, int):
            values.extend([None] * (index + 1 - len(values)))
            values[index] = value
        elif isinstance(values, dict):
            values[index] = value

    # links

    def _link(self, node_id: str, name: str, value: list | None) -> None:
        """Make input ``name`` of ``node_id`` take ``value`` (a link, or None for nothing)."""
        target = self._top(node_id)
        if target is None:
            self.notes.append(
                f"input {name!r} of node {node_id} (inside a subgraph) was relinked: not saved"
            )
            return
        inputs = _listed(target, "inputs")
        for entry in inputs:
            if (
                isinstance(entry, dict)
                and entry.get("name") == name
                and entry.get("link") is not None
            ):
                self._drop_link(entry["link"])
                entry["link"] = None
        if value is None:
            return
        origin = self._top(str(value[0]))
        if origin is None or id(origin) in self.dropped_nodes:
            self.notes.append(
                f"input {name!r} of node {node_id} links to {value[0]}, which is not a top-level "
                "node of the workflow: not saved"
            )
            return
        if self.links.add(origin, value[1], target, name, self.current[node_id]) is None:
            self.notes.append(
                f"input {name!r} of node {node_id} links to output {value[1]} of {value[0]}, "
                "which no node has: not saved"
            )

    def _drop_link(self, link_id: Any) -> None:
        if _key(link_id) in self.dropped_links:
            return
        self.dropped_links.add(_key(link_id))
        for entry in self.out["links"]:
            if _link_id(entry) == link_id:
                ends = _link_ends(entry)
                origin = next(
                    (
                        n
                        for n in self.out["nodes"]
                        if isinstance(n, dict) and ends and n.get("id") == ends[1]
                    ),
                    None,
                )
                for output in _listed(origin, "outputs"):
                    if isinstance(output, dict) and isinstance(output.get("links"), list):
                        output["links"] = [i for i in output["links"] if i != link_id]
                target = next(
                    (
                        n
                        for n in self.out["nodes"]
                        if isinstance(n, dict) and ends and n.get("id") == ends[3]
                    ),
                    None,
                )
                for slot in _listed(target, "inputs"):
                    if isinstance(slot, dict) and slot.get("link") == link_id:
                        slot["link"] = None

    def _finish(self) -> None:
        out = self.out
        out["nodes"] = [n for n in out["nodes"] if id(n) not in self.dropped_nodes]
        out["links"] = [e for e in out["links"] if _key(_link_id(e)) not in self.dropped_links]
        for key, value in self.lists.items():
            if not out[key]:
                if value is None and key not in self.source.document:
                    del out[key]
                else:
                    out[key] = value
        # The id counters move only past what was added: a file's own counters, even
        # stale ones, are kept as they were.
        counters = {}
        if self.added:
            counters["node"] = max(_int(n.get("id")) for n in self.added.values())
        if self.links.next_id != self.first_link:
            counters["link"] = self.links.next_id - 1
        state = out.get("state")
        keys = []
        if isinstance(state, dict):
            keys += [(state, "lastNodeId", "node"), (state, "lastLinkId", "link")]
        if "last_node_id" in out or not isinstance(state, dict):
            keys += [(out, "last_node_id", "node"), (out, "last_link_id", "link")]
        for holder, key, kind in keys:
            if kind in counters and counters[kind] > _int(holder.get(key)):
                holder[key] = counters[kind]


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, str) and value.isdigit() and len(value) < 16:
        return int(value)
    return value if isinstance(value, int) else 0


def _key(value: Any) -> str:
    """Any JSON value as a set member (a hostile file's link id may be a list)."""
    return json.dumps(value, sort_keys=True, default=repr)


def _link_id(entry: Any) -> Any:
    if isinstance(entry, list) and entry:
        return entry[0]
    if isinstance(entry, dict):
        return entry.get("id")
    return None


def _link_ends(entry: Any) -> tuple | None:
    """(id, origin id, origin slot, target id, target slot) of a link entry, raw."""
    if isinstance(entry, list) and len(entry) >= 5:
        return tuple(entry[:5])
    if isinstance(entry, dict):
        return (
            entry.get("id"),
            entry.get("origin_id"),
            entry.get("origin_slot"),
            entry.get("target_id"),
            entry.get("target_slot"),
        )
    return None


def _listed(node: dict | None, key: str) -> list:
    """``node[key]`` if it is a list (a hostile file may hold anything there), else []."""
    value = node.get(key) if node else None
    return value if isinstance(value, list) else []
