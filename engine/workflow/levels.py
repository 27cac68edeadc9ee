"""A workflow's graphs read into *levels*: nodes by id, and what feeds each input.

A level is the workflow itself, a subgraph definition (``definitions.subgraphs``)
or a legacy group node definition (``extra.groupNodes``). Reading one accepts the
format's quirks: string or numeric ids, numeric-string slots, links as 0.4 lists,
1.0 objects or a group node's index lists, nodes written without their slots.
A node's ``inputs[].link`` decides what feeds an input (as the frontend's own
conversion does), the link table gives the link's origin. Nothing here raises:
parts that cannot be read are passed to the ``invalid`` callback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..registry import NodeRegistry
from .jsondoc import MAX_ID_LENGTH, MAX_LINKS, is_number

__all__ = [
    "INPUT_NODE",
    "VIRTUAL_TYPES",
    "OUTPUT_NODE",
    "Level",
    "Link",
    "Missing",
    "group_name",
    "input_entry",
    "input_name",
    "node_id",
    "node_mode",
    "node_type",
    "pair",
    "read_level",
    "slot_index",
    "spec_of",
    "where",
]

INPUT_NODE, OUTPUT_NODE = "-10", "-20"  # a subgraph's input and output nodes
GROUP_PREFIXES = ("workflow>", "workflow/")  # legacy group node types: workflow>NAME
# The frontend's own node types, which are not backend nodes (ComfyUI_frontend extensions).
VIRTUAL_TYPES = {
    "Reroute": "reroute",
    "PrimitiveNode": "primitive",
    "Note": "note",
    "MarkdownNote": "note",
}
Invalid = Callable[[str], None]


@dataclass
class Link:
    id: str
    origin: str
    origin_slot: int
    target: str
    target_slot: int
    type: Any = "*"


@dataclass
class Missing:
    """A link that leads nowhere; ``reason`` says why."""

    reason: str


@dataclass
class Level:
    """One graph of nodes and links (the workflow, a subgraph or group node definition)."""

    kind: str  # "top" | "subgraph" | "group"
    name: str
    nodes: dict[str, dict] = field(default_factory=dict)
    paths: dict[str, tuple] = field(default_factory=dict)  # node id -> path in the document
    feeds: dict[str, dict[Any, Link | Missing]] = field(
        default_factory=dict
    )  # node -> input -> link
    outputs: dict[int, Link] = field(default_factory=dict)  # subgraph output slot -> its link
    inputs: list[dict] = field(default_factory=list)  # a subgraph's inputs
    external: list[tuple[str, str]] = field(default_factory=list)  # group node inputs (node, input)
    definition: dict = field(default_factory=dict)


def read_level(
    kind: str, name: str, container: dict, path: tuple, registry: NodeRegistry, invalid: Invalid
) -> Level:
    """One level of ``kind`` (``"top"``, ``"subgraph"``, ``"group"``) read from ``container``, the
    object at ``path`` in the document; what cannot be read goes to ``invalid``."""
    level = Level(kind, name, definition=container)
    nodes = container.get("nodes")
    if not isinstance(nodes, list):
        if nodes is not None or kind == "top":
            invalid(f"{where(kind, name)}: 'nodes' is not a list")
        nodes = []
    for index, node in enumerate(nodes):
        if not isinstance(node, dict):
            invalid(f"{where(kind, name)}: node entry {index} is not an object")
            continue
        if kind == "group":
            raw_id = node.get("index", index)
        else:
            raw_id = node.get("id")
        local = node_id(raw_id)
        if local is None:
            invalid(f"{where(kind, name)}: node entry {index} has no usable id")
            continue
        if local in level.nodes:
            invalid(f"{where(kind, name)}: a second node with id {local} (skipped)")
            continue
        level.nodes[local] = node
        level.paths[local] = (*path, "nodes", index)
    links = _links(container.get("links"), kind, name, invalid)
    if kind == "group":
        _group_feeds(level, links, registry)
    else:
        _feeds(level, links)
    if kind == "subgraph":
        for link in links.values():
            if link.target == OUTPUT_NODE:
                level.outputs.setdefault(link.target_slot, link)
        inputs = container.get("inputs")
        level.inputs = (
            [i if isinstance(i, dict) else {} for i in inputs] if isinstance(inputs, list) else []
        )
    return level


def _links(raw: Any, kind: str, name: str, invalid: Invalid) -> dict[str, Link]:
    entries = list(raw.values()) if isinstance(raw, dict) else raw
    if not isinstance(entries, list):
        if raw is not None:
            invalid(f"{where(kind, name)}: 'links' is not a list")
        return {}
    if len(entries) > MAX_LINKS:
        invalid(f"{where(kind, name)}: more than {MAX_LINKS:,} links; the rest skipped")
        entries = entries[:MAX_LINKS]
    links: dict[str, Link] = {}
    for index, entry in enumerate(entries):
        link = read_link(entry, f"g{index}" if kind == "group" else None)
        if link is None:
            invalid(f"{where(kind, name)}: link entry {index} is not a link")
        elif link.id not in links:
            links[link.id] = link
    return links


def _feeds(level: Level, links: dict[str, Link]) -> None:
    """Each node's inputs -> the link feeding it: the node's ``inputs[].link`` decides
    (as the frontend's conversion), the link table gives the origin."""
    by_target: dict[str, list[Link]] = {}
    for link in links.values():
        by_target.setdefault(link.target, []).append(link)
    for local, node in level.nodes.items():
        feeds: dict[Any, Link | Missing] = {}
        inputs = node.get("inputs")
        if isinstance(inputs, list):
            for slot, entry in enumerate(inputs):
                if not isinstance(entry, dict) or entry.get("link") is None:
                    continue
                name = entry.get("name")
                key = name if isinstance(name, str) and name else slot
                link_id = node_id(entry.get("link"))
                link = links.get(link_id) if link_id is not None else None
                feeds[key] = (
                    link
                    if link is not None
                    else Missing(f"link {entry.get('link')!r} is not in the workflow's links")
                )
        elif inputs is None:  # a node written without its slots: the link table says
            for link in by_target.get(local, ()):
                feeds.setdefault(link.target_slot, link)
        if feeds:
            level.feeds[local] = feeds


def _group_feeds(level: Level, links: dict[str, Link], registry: NodeRegistry) -> None:
    """A group node definition: links name their ends by node index and slot."""
    for link in links.values():
        node = level.nodes.get(link.target)
        if node is None:
            continue
        name = input_name(node, link.target_slot)
        level.feeds.setdefault(link.target, {}).setdefault(
            name if name is not None else link.target_slot, link
        )
    internal_outputs = {(link.origin, link.origin_slot) for link in links.values()}
    external = level.definition.get("external")
    exposed = set()
    for entry in external if isinstance(external, list) else ():
        if isinstance(entry, list) and len(entry) >= 2:
            slot = slot_index(entry[1])
            if node_id(entry[0]) is not None and slot is not None:
                exposed.add((node_id(entry[0]), slot))
    config = level.definition.get("config")
    config = config if isinstance(config, dict) else {}
    position = 0
    for local, node in level.nodes.items():
        inputs = node.get("inputs") if isinstance(node.get("inputs"), list) else []
        for entry in inputs:
            name = entry.get("name") if isinstance(entry, dict) else None
            if isinstance(name, str) and name not in level.feeds.get(local, {}):
                level.external.append((local, name))
        node_type = registry.get(node.get("type"))
        outputs = node.get("outputs") if isinstance(node.get("outputs"), list) else []
        count = len(node_type.return_types) if node_type is not None else len(outputs)
        for slot in range(count):
            visible = (local, slot) not in internal_outputs or (local, slot) in exposed
            node_config = config.get(local)
            if isinstance(node_config, dict):
                output = node_config.get("output")
                override = output.get(str(slot)) if isinstance(output, dict) else None
                if isinstance(override, dict) and isinstance(override.get("visible"), bool):
                    visible = override["visible"]
            if visible:
                level.outputs[position] = Link(f"out{position}", local, slot, OUTPUT_NODE, position)
                position += 1


# --- small readers of the format's quirks ---


def node_id(value: Any) -> str | None:
    """A node or link id as a string: an int, an integral float, or a short string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        text = str(value) if abs(value) < 10**MAX_ID_LENGTH else None
        return text
    if isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH:
        return value
    return None


def slot_index(value: Any) -> int | None:
    """A slot index: an int or a numeric string, 0 to 9999."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isdigit() and len(value) <= 4:
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and 0 <= value < 10_000 else None


def read_link(entry: Any, default_id: str | None) -> Link | None:
    """A link from a 0.4 list ``[id, origin, slot, target, slot, type]`` (a group node's
    ``[origin, slot, target, slot, origin id, type]``) or a 1.0 object."""
    if isinstance(entry, list):
        if default_id is not None and len(entry) >= 4:
            origin, origin_slot, target, target_slot = entry[:4]
            link_type = entry[5] if len(entry) > 5 else "*"
            link_id = default_id
        elif len(entry) >= 5:
            link_id, origin, origin_slot, target, target_slot = entry[:5]
            link_type = entry[5] if len(entry) > 5 else "*"
            link_id = node_id(link_id)
        else:
            return None
    elif isinstance(entry, dict):
        link_id = node_id(entry.get("id")) if default_id is None else default_id
        origin, origin_slot = entry.get("origin_id"), entry.get("origin_slot")
        target, target_slot = entry.get("target_id"), entry.get("target_slot")
        link_type = entry.get("type", "*")
    else:
        return None
    ends = (node_id(origin), slot_index(origin_slot), node_id(target), slot_index(target_slot))
    if link_id is None or None in ends:
        return None
    return Link(link_id, ends[0], ends[1], ends[2], ends[3], link_type)


def pair(value: Any) -> list | None:
    """``pos`` / ``size`` as ``[a, b]`` from a list or a ``{"0": a, "1": b}`` object."""
    if isinstance(value, dict):
        value = [value.get("0"), value.get("1")]
    if isinstance(value, list) and len(value) >= 2 and all(is_number(v) for v in value[:2]):
        return [value[0], value[1]]
    return None


def node_type(node: dict) -> str | None:
    class_type = node.get("type")
    return class_type if isinstance(class_type, str) else None


def spec_of(registry: NodeRegistry, class_type: Any):
    """The ``NodeSpec`` of ``class_type``, or None: an unknown type, or a node class whose
    ``INPUT_TYPES()`` fails (a pack's bug must not stop a workflow from opening)."""
    found = registry.get(class_type)
    if found is None:
        return None
    try:
        return found.spec()
    except Exception:
        return None


def node_mode(node: dict) -> int:
    mode = node.get("mode", 0)
    return mode if isinstance(mode, int) and not isinstance(mode, bool) else 0


def group_name(class_type: str) -> str | None:
    for prefix in GROUP_PREFIXES:
        if class_type.startswith(prefix):
            return class_type[len(prefix) :]
    return None


def input_entry(node: dict, key: Any) -> dict | None:
    inputs = node.get("inputs")
    if not isinstance(inputs, list):
        return None
    for index, entry in enumerate(inputs):
        if isinstance(entry, dict) and (entry.get("name") == key or index == key):
            return entry
    return None


def input_name(node: dict, slot: int) -> str | None:
    inputs = node.get("inputs")
    if isinstance(inputs, list) and slot < len(inputs) and isinstance(inputs[slot], dict):
        name = inputs[slot].get("name")
        return name if isinstance(name, str) else None
    return None


def where(kind: str, name: str) -> str:
    return {"top": "the workflow", "subgraph": f"subgraph {name}", "group": f"group node {name}"}[
        kind
    ]
