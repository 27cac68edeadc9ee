"""A UI workflow (0.4 or 1.0) converted into the graph's nodes: the node records.

A record is an ``add_node`` edit op (``docs/graph-model.md``): ``id``,
``class_type``, ``inputs`` (API wire form), ``control`` (seed policies) and
``ui``. ``docs/workflow-format.md`` gives the rules; in short:

- a *level* is one graph of nodes and links: the workflow itself, a subgraph
  definition, or a legacy group node definition;
- a *scope* is a level as one instance sees it: its id prefix (``"5:"``), the
  scope holding the instance, and the values the instance gives its widgets;
- every real node of every scope becomes a record (id: prefix + its own id);
  virtual nodes (reroutes, PrimitiveNodes, notes) and instances stay as
  placeholders marked ``ui["virtual"]``; a node's inputs are its widget values
  (``widgets.py``) overridden by its links, each resolved to a real node's
  output or a constant (``_resolve``).

Nothing here raises on a bad workflow: problems go to the ``Report``. Limits
are ``jsondoc``'s.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..nodespec import NO_DEFAULT
from ..registry import NodeRegistry
from .jsondoc import MAX_ID_LENGTH, MAX_LINKS, MAX_NESTING, MAX_NODES, copy_json, is_number
from .modes import BYPASS, NEVER, bypass_choice
from .report import Report
from .source import Source
from .widgets import CONTROL_VALUES, fallback_value, policy_of, read_widget_values, to_wire

__all__ = ["VIRTUAL_TYPES", "convert_workflow", "node_id", "pair"]

VIRTUAL_TYPES = {
    "Reroute": "reroute",
    "PrimitiveNode": "primitive",
    "Note": "note",
    "MarkdownNote": "note",
}
INPUT_NODE, OUTPUT_NODE = "-10", "-20"  # a subgraph's input and output nodes
GROUP_PREFIXES = ("workflow>", "workflow/")
MAX_CHAIN = 10_000  # links followed to resolve one input (reroutes, subgraph boundaries)
UI_ONLY_KEYS = ("virtual", "parent")  # ui keys the reader adds; never written to a node


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


@dataclass
class Scope:
    level: Level
    prefix: str = ""
    parent: Scope | None = None
    instance: str | None = None  # the instance node's id in parent.level
    depth: int = 0
    promoted: dict[int, tuple] = field(default_factory=dict)  # input -> (value, origin)
    promoted_control: dict[int, tuple] = field(default_factory=dict)
    overrides: dict[tuple[str, str], tuple] = field(default_factory=dict)  # (node, input) -> ...
    override_control: dict[tuple[str, str], tuple] = field(default_factory=dict)
    external: dict[str, dict[str, int]] = field(
        default_factory=dict
    )  # group: node -> input -> slot


@dataclass
class Const:
    value: Any
    origin: tuple
    control: Any = None
    control_origin: tuple | None = None


@dataclass
class Out:
    node: str
    slot: int


KEEP_WIDGET = "keep"  # nothing feeds it from outside the subgraph: the widget keeps its value
DROP = "drop"  # a bypassed instance with no input of the type: the input is left out


def convert_workflow(
    document: dict, registry: NodeRegistry, report: Report
) -> tuple[list[dict], Source]:
    """The records of a UI workflow, and its ``Source`` for writing back. Never raises."""
    converter = _Converter(document, registry, report)
    records = converter.run()
    return records, converter.source


class _Converter:
    def __init__(self, document: dict, registry: NodeRegistry, report: Report):
        self.doc = document
        self.registry = registry
        self.report = report
        self.source = Source(document, "workflow")
        self.records: list[dict] = []
        self.ids: set[str] = set()
        self.definitions: dict[str, tuple[dict, tuple]] = {}
        self.levels: dict[str, Level] = {}
        self.scopes: dict[str, Scope] = {}
        self.full = False
        self.reported: set[str] = set()

    # --- reading the document ---

    def run(self) -> list[dict]:
        self._collect_definitions(self.doc, (), 0)
        top = self._level("top", "", self.doc, ())
        links = self.doc.get("links")
        if isinstance(links, list) and links and isinstance(links[0], dict):
            self.source.link_style = "object"
        self._emit(Scope(top))
        return self.records

    def _collect_definitions(self, container: dict, path: tuple, depth: int) -> None:
        definitions = container.get("definitions")
        if not isinstance(definitions, dict) or depth > MAX_NESTING:
            return
        subgraphs = definitions.get("subgraphs")
        if isinstance(subgraphs, dict):
            entries = list(subgraphs.items())
        elif isinstance(subgraphs, list):
            entries = list(enumerate(subgraphs))
        else:
            return
        for key, definition in entries:
            if not isinstance(definition, dict):
                continue
            uuid = definition.get("id", key if isinstance(key, str) else None)
            def_path = (*path, "definitions", "subgraphs", key)
            if isinstance(uuid, str) and uuid not in self.definitions:
                self.definitions[uuid] = (definition, def_path)
            self._collect_definitions(definition, def_path, depth + 1)

    def _level(self, kind: str, name: str, container: dict, path: tuple) -> Level:
        level = Level(kind, name, definition=container)
        nodes = container.get("nodes")
        if not isinstance(nodes, list):
            if nodes is not None or kind == "top":
                self._invalid(f"{_where(kind, name)}: 'nodes' is not a list")
            nodes = []
        for index, node in enumerate(nodes):
            if not isinstance(node, dict):
                self._invalid(f"{_where(kind, name)}: node entry {index} is not an object")
                continue
            if kind == "group":
                raw_id = node.get("index", index)
            else:
                raw_id = node.get("id")
            local = node_id(raw_id)
            if local is None:
                self._invalid(f"{_where(kind, name)}: node entry {index} has no usable id")
                continue
            if local in level.nodes:
                self._invalid(f"{_where(kind, name)}: a second node with id {local} (skipped)")
                continue
            level.nodes[local] = node
            level.paths[local] = (*path, "nodes", index)
        links = self._links(container.get("links"), kind, name)
        if kind == "group":
            self._group_feeds(level, links)
        else:
            self._feeds(level, links)
        if kind == "subgraph":
            for link in links.values():
                if link.target == OUTPUT_NODE:
                    level.outputs.setdefault(link.target_slot, link)
            inputs = container.get("inputs")
            level.inputs = (
                [i if isinstance(i, dict) else {} for i in inputs]
                if isinstance(inputs, list)
                else []
            )
        return level

    def _links(self, raw: Any, kind: str, name: str) -> dict[str, Link]:
        entries = list(raw.values()) if isinstance(raw, dict) else raw
        if not isinstance(entries, list):
            if raw is not None:
                self._invalid(f"{_where(kind, name)}: 'links' is not a list")
            return {}
        if len(entries) > MAX_LINKS:
            self._invalid(f"{_where(kind, name)}: more than {MAX_LINKS:,} links; the rest skipped")
            entries = entries[:MAX_LINKS]
        links: dict[str, Link] = {}
        for index, entry in enumerate(entries):
            link = _link(entry, f"g{index}" if kind == "group" else None)
            if link is None:
                self._invalid(f"{_where(kind, name)}: link entry {index} is not a link")
            elif link.id not in links:
                links[link.id] = link
        return links

    def _feeds(self, level: Level, links: dict[str, Link]) -> None:
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

    def _group_feeds(self, level: Level, links: dict[str, Link]) -> None:
        """A group node definition: links name their ends by node index and slot."""
        for link in links.values():
            node = level.nodes.get(link.target)
            if node is None:
                continue
            name = _input_name(node, link.target_slot)
            level.feeds.setdefault(link.target, {}).setdefault(
                name if name is not None else link.target_slot, link
            )
        internal_outputs = {(link.origin, link.origin_slot) for link in links.values()}
        external = level.definition.get("external")
        exposed = set()
        for entry in external if isinstance(external, list) else ():
            if isinstance(entry, list) and len(entry) >= 2:
                slot = _slot(entry[1])
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
            node_type = self.registry.get(node.get("type"))
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
                    level.outputs[position] = Link(
                        f"out{position}", local, slot, OUTPUT_NODE, position
                    )
                    position += 1

    # --- emitting records ---

    def _emit(self, scope: Scope) -> None:
        for local, node in scope.level.nodes.items():
            if len(self.records) >= MAX_NODES:
                if not self.full:
                    self.full = True
                    self._invalid(
                        f"more than {MAX_NODES:,} nodes (subgraphs flattened); the rest skipped"
                    )
                return
            try:
                self._emit_node(scope, local, node)
            except Exception as exc:  # a bug shows as one node not read, never as a crash
                self.report.add(
                    "internal", f"{type(exc).__name__}: {exc}", node=scope.prefix + local
                )

    def _emit_node(self, scope: Scope, local: str, node: dict) -> None:
        exec_id = scope.prefix + local
        if exec_id in self.ids:
            self._invalid(f"node id {exec_id} is used twice (the second skipped)", node=exec_id)
            return
        class_type = node.get("type")
        title = node.get("title") if isinstance(node.get("title"), str) else None
        if isinstance(class_type, (int, float, list)) and not isinstance(class_type, bool):
            class_type = json.dumps(class_type)  # a pack's odd type: an unknown type by that name
        if not isinstance(class_type, str) or not class_type:
            self._invalid(f"node {exec_id} has no type", node=exec_id)
            return
        self.ids.add(exec_id)
        self.source.where[exec_id] = scope.level.paths[local]
        mode = _mode(node)
        instance = self._instance_kind(class_type)
        virtual = VIRTUAL_TYPES.get(class_type) or instance
        node_type = None if virtual else self.registry.get(class_type)
        ui = self._ui(node, scope, keep_slots=node_type is None)
        if virtual:
            ui["virtual"] = virtual
            self._record(exec_id, class_type, {}, {}, ui)
            if instance and mode not in (NEVER, BYPASS):
                child = self._child_scope(scope, local, node)
                if child is not None:
                    self._emit(child)
            return
        if node_type is None:
            properties = node.get("properties") if isinstance(node.get("properties"), dict) else {}
            pack = properties.get("cnr_id") or properties.get("aux_id")
            self.report.add(
                "unknown_type",
                node=exec_id,
                class_type=class_type,
                title=title,
                pack=pack if isinstance(pack, str) else None,
            )
            inputs = self._linked_inputs(scope, local, exec_id, class_type, None, {}, {})
            self._record(exec_id, class_type, inputs, {}, ui)
            return
        try:
            spec = node_type.spec()
        except Exception as exc:  # a node class whose INPUT_TYPES() fails
            self.report.add(
                "unsupported",
                f"its INPUT_TYPES() failed: {exc}",
                node=exec_id,
                class_type=class_type,
            )
            self._record(exec_id, class_type, {}, {}, ui)
            return
        path = scope.level.paths[local]
        read = read_widget_values(
            spec.widgets, node.get("widgets_values"), node.get("widgets_values_named")
        )
        self.source.widgets[exec_id] = read
        inputs: dict[str, Any] = {}
        control: dict[str, str] = {}
        for name, value in read.values.items():
            inputs[name] = to_wire(value)
            self.source.values[(exec_id, name)] = ("own", path, read.positions.get(name))
        for name, mode_value in read.control.items():
            policy = policy_of(mode_value)
            if policy is not None:
                control[name] = policy
                self.source.controls[(exec_id, name)] = ("own", path, None)
        for (target, name), (value, origin) in scope.overrides.items():
            if target == local and spec.input(name) is not None:
                inputs[name] = to_wire(value)
                self.source.values[(exec_id, name)] = origin
        for (target, name), (mode_value, origin) in scope.override_control.items():
            policy = policy_of(mode_value)
            declared = spec.input(name)
            if target == local and policy and declared is not None and declared.control:
                control[name] = policy
                self.source.controls[(exec_id, name)] = origin
        if read.unused:
            shown = ", ".join(_short(repr(v)) for v in read.unused[:5])
            more = f" and {len(read.unused) - 5} more" if len(read.unused) > 5 else ""
            self.report.add(
                "unused_values",
                f"widget values {shown}{more} match no input of {class_type}",
                node=exec_id,
                class_type=class_type,
                title=title,
            )
        inputs = self._linked_inputs(scope, local, exec_id, class_type, spec, inputs, control)
        for declared in spec.widgets:
            if declared.name not in inputs:
                value = fallback_value(declared)
                if value is not NO_DEFAULT:
                    inputs[declared.name] = to_wire(value)
        self._record(exec_id, class_type, inputs, control, ui)

    def _linked_inputs(self, scope, local, exec_id, class_type, spec, inputs, control) -> dict:
        """``inputs`` with the node's links resolved over them (and reported where they fail)."""
        feeds = dict(scope.level.feeds.get(local, {}))
        for name, slot in scope.external.get(local, {}).items():
            feeds[name] = Link(f"in{slot}", INPUT_NODE, slot, local, 0)
        for key, feed in feeds.items():
            name = key if isinstance(key, str) else _slot_name(spec, key)
            if name is None:
                self.report.add(
                    "missing_link",
                    f"a link into input slot {key}, which it does not have",
                    node=exec_id,
                    class_type=class_type,
                )
                continue
            if isinstance(feed, Missing):
                self._missing(exec_id, class_type, name, feed.reason)
                continue
            source = self._resolve(scope, feed.origin, feed.origin_slot)
            if isinstance(source, Out):
                inputs[name] = [source.node, source.slot]
                self.source.values.pop((exec_id, name), None)
                if scope.parent is None:
                    self.source.links[(exec_id, name)] = feed.id
            elif isinstance(source, Const):
                inputs[name] = to_wire(source.value)
                self.source.values[(exec_id, name)] = source.origin
                self._const_control(exec_id, class_type, spec, name, source, control)
            elif isinstance(source, Missing):
                self._missing(exec_id, class_type, name, source.reason)
            # KEEP_WIDGET and DROP: the input keeps its widget value, or has none
        return inputs

    def _const_control(self, exec_id, class_type, spec, name, source: Const, control) -> None:
        policy = policy_of(source.control)
        if policy is None:
            return
        declared = spec.input(name) if spec is not None else None
        if declared is not None and declared.control:
            control[name] = policy
            self.source.controls[(exec_id, name)] = source.control_origin
        elif policy != "fixed":
            self.report.add(
                "unsupported",
                f"control after generate {source.control!r} on input {name!r}, which has no "
                "seed policy here: its value stays fixed",
                node=exec_id,
                class_type=class_type,
            )

    def _record(self, exec_id: str, class_type: str, inputs: dict, control: dict, ui: dict) -> None:
        self.records.append(
            {
                "op": "add_node",
                "id": exec_id,
                "class_type": class_type,
                "inputs": inputs,
                "control": control,
                "ui": ui,
            }
        )

    def _ui(self, node: dict, scope: Scope, keep_slots: bool) -> dict:
        skip = {"id", "type"}
        if not keep_slots:
            skip |= {"inputs", "outputs", "widgets_values", "widgets_values_named"}
        ui = {k: copy_json(v) for k, v in node.items() if k not in skip}
        for key in ("pos", "size"):
            if key in ui:
                value = pair(ui[key])
                if value is None:
                    del ui[key]
                else:
                    ui[key] = value
        if "mode" in ui and not (isinstance(ui["mode"], int) and not isinstance(ui["mode"], bool)):
            del ui["mode"]
        if scope.parent is not None:
            ui["parent"] = scope.prefix[:-1]
        return ui

    # --- resolving links ---

    def _resolve(self, scope: Scope, origin: str, slot: int) -> Out | Const | Missing | str:
        """Where the link from ``origin``'s output ``slot`` in ``scope`` really comes from."""
        seen = set()
        for _ in range(MAX_CHAIN):
            key = (scope.prefix, origin, slot)
            if key in seen:
                return Missing("its link runs in a circle (through reroutes or subgraphs)")
            seen.add(key)
            if origin == INPUT_NODE and scope.parent is not None:
                feed = self._instance_feed(scope, slot)
                if isinstance(feed, Link):
                    scope, origin, slot = scope.parent, feed.origin, feed.origin_slot
                    continue
                if isinstance(feed, Missing):
                    return feed
                if slot in scope.promoted:
                    value, value_origin = scope.promoted[slot]
                    control, control_origin = scope.promoted_control.get(slot, (None, None))
                    return Const(value, value_origin, control, control_origin)
                return KEEP_WIDGET
            node = scope.level.nodes.get(origin)
            if node is None:
                return Missing(
                    f"it links to node {scope.prefix + origin}, which is not in the workflow"
                )
            class_type = _type(node)
            if class_type == "Reroute":
                feeds = [f for f in scope.level.feeds.get(origin, {}).values()]
                if not feeds or isinstance(feeds[0], Missing):
                    return Missing(
                        f"it comes through reroute {scope.prefix + origin}, which has no input"
                    )
                scope, origin, slot = scope, feeds[0].origin, feeds[0].origin_slot
                continue
            if class_type == "PrimitiveNode":
                values = node.get("widgets_values")
                path = scope.level.paths[origin]
                if isinstance(values, list) and values and values[0] is not None:
                    control = values[1] if len(values) > 1 and values[1] in CONTROL_VALUES else None
                    return Const(values[0], ("primitive", path, 0), control, ("primitive", path, 1))
                return KEEP_WIDGET  # its value was lost: the target's own value stands
            if class_type in VIRTUAL_TYPES:
                return Missing(
                    f"it links to {class_type} {scope.prefix + origin}, which has no outputs"
                )
            if self._instance_kind(class_type):
                mode = _mode(node)
                if mode == NEVER:
                    return Out(scope.prefix + origin, slot)  # dangling, as for a muted node
                if mode == BYPASS:
                    feed = self._bypassed(scope, origin, node, slot)
                    if feed is None:
                        return DROP
                    scope, origin, slot = scope, feed.origin, feed.origin_slot
                    continue
                child = self._child_scope(scope, origin, node)
                if child is None:
                    return Missing(f"subgraph node {scope.prefix + origin} could not be expanded")
                feed = child.level.outputs.get(slot)
                if feed is None:
                    return Missing(
                        f"output {slot} of {scope.prefix + origin} is connected to nothing inside it"
                    )
                scope, origin, slot = child, feed.origin, feed.origin_slot
                continue
            return Out(scope.prefix + origin, slot)
        return Missing(f"its link passes more than {MAX_CHAIN:,} reroutes or subgraph boundaries")

    def _instance_feed(self, scope: Scope, slot: int) -> Link | Missing | None:
        """What feeds input ``slot`` of ``scope``'s instance, in the scope holding it."""
        parent = scope.parent
        instance = parent.level.nodes[scope.instance]
        feeds = parent.level.feeds.get(scope.instance, {})
        inputs = instance.get("inputs") if isinstance(instance.get("inputs"), list) else []
        name = None
        if scope.level.kind == "subgraph":
            declared = scope.level.inputs[slot] if slot < len(scope.level.inputs) else {}
            name = declared.get("name")
            names = [i.get("name") if isinstance(i, dict) else None for i in inputs]
            if name not in names:
                name = names[slot] if slot < len(names) else None
        elif slot < len(inputs) and isinstance(inputs[slot], dict):
            name = inputs[slot].get("name")
        feed = feeds.get(name) if isinstance(name, str) else None
        return feed if feed is not None else feeds.get(slot)

    def _bypassed(self, scope: Scope, local: str, node: dict, slot: int) -> Link | None:
        """The link through a bypassed instance's output ``slot``: one of its inputs, by type."""
        feeds = scope.level.feeds.get(local, {})
        inputs = node.get("inputs") if isinstance(node.get("inputs"), list) else []
        outputs = node.get("outputs") if isinstance(node.get("outputs"), list) else []
        output = outputs[slot] if slot < len(outputs) and isinstance(outputs[slot], dict) else {}
        candidates = []
        for index, entry in enumerate(inputs):
            name = entry.get("name") if isinstance(entry, dict) else None
            if isinstance(name, str) and isinstance(feeds.get(name), Link):
                candidates.append((name, entry.get("type", "*")))
            elif isinstance(feeds.get(index), Link):
                candidates.append((index, "*"))
        chosen = bypass_choice(output.get("type", "*"), candidates, slot)
        return None if chosen is None else feeds.get(chosen)

    # --- subgraphs and group nodes ---

    def _instance_kind(self, class_type: Any) -> str | None:
        if not isinstance(class_type, str):
            return None
        if class_type in self.definitions:
            return "subgraph"
        if _group_name(class_type) is not None and self._group_definition(class_type) is not None:
            return "group node"
        return None

    def _group_definition(self, class_type: str) -> dict | None:
        groups = (
            self.doc.get("extra", {}).get("groupNodes")
            if isinstance(self.doc.get("extra"), dict)
            else None
        )
        name = _group_name(class_type)
        if isinstance(groups, dict) and isinstance(groups.get(name), dict):
            return groups[name]
        return None

    def _child_scope(self, scope: Scope, local: str, node: dict) -> Scope | None:
        prefix = f"{scope.prefix}{local}:"
        if prefix in self.scopes:
            return self.scopes[prefix]
        class_type = node["type"]
        kind = self._instance_kind(class_type)
        if scope.depth + 1 > MAX_NESTING:
            self._once(
                f"nesting:{prefix}",
                "unsupported",
                f"subgraphs nested deeper than {MAX_NESTING} levels are not expanded",
                node=prefix[:-1],
                class_type=class_type,
            )
            self.scopes[prefix] = None
            return None
        ancestors = set()
        walk: Scope | None = scope
        while walk is not None:
            ancestors.add(walk.level.name)
            walk = walk.parent
        if class_type in ancestors:
            self._once(
                f"recursive:{prefix}",
                "unsupported",
                "a subgraph that contains itself is not expanded",
                node=prefix[:-1],
                class_type=class_type,
            )
            self.scopes[prefix] = None
            return None
        level = self.levels.get(class_type)
        if level is None:
            if kind == "subgraph":
                definition, path = self.definitions[class_type]
                level = self._level("subgraph", class_type, definition, path)
            else:
                name = _group_name(class_type)
                level = self._level(
                    "group",
                    class_type,
                    self._group_definition(class_type),
                    ("extra", "groupNodes", name),
                )
            self.levels[class_type] = level
        child = Scope(level, prefix, scope, local, scope.depth + 1)
        instance_path = scope.level.paths[local]
        if kind == "subgraph":
            self._promoted(child, node, instance_path)
        else:
            self._group_values(child, node, instance_path)
        self.scopes[prefix] = child
        return child

    def _promoted(self, scope: Scope, instance: dict, path: tuple) -> None:
        """The instance's promoted widget values: by ``properties.proxyWidgets``, else one
        per subgraph input that feeds a widget, in order."""
        values = instance.get("widgets_values")
        if not isinstance(values, list) or not values:
            return
        properties = (
            instance.get("properties") if isinstance(instance.get("properties"), dict) else {}
        )
        proxies = properties.get("proxyWidgets")
        names = [i.get("name") for i in scope.level.inputs]
        if isinstance(proxies, list):
            entries = [p for p in proxies if isinstance(p, list) and len(p) >= 2]
            if len(entries) != len(values):
                self.report.add(
                    "unsupported",
                    f"its {len(values)} promoted widget values do not match its "
                    f"{len(entries)} promoted widgets: the subgraph's own values are used",
                    node=scope.prefix[:-1],
                    class_type=instance.get("type"),
                )
                return
            previous = None
            for index, (entry, value) in enumerate(zip(entries, values, strict=True)):
                inner, name = node_id(entry[0]), entry[1]
                if not isinstance(name, str) or name.startswith("$$") or inner is None:
                    continue
                origin = ("promoted", path, index)
                if name == "control_after_generate" and previous is not None:
                    if inner == "-1":
                        scope.promoted_control[previous[1]] = (value, origin)
                    else:
                        scope.override_control[previous] = (value, origin)
                    continue
                if inner == "-1":
                    if name in names:
                        scope.promoted[names.index(name)] = (value, origin)
                        previous = (None, names.index(name))
                elif inner in scope.level.nodes:
                    scope.overrides[(inner, name)] = (value, origin)
                    previous = (inner, name)
            return
        widget_inputs = [
            i for i, declared in enumerate(scope.level.inputs) if self._feeds_widget(scope.level, i)
        ]
        index = 0
        extra = len(values) - len(widget_inputs)
        for slot in widget_inputs:
            if index >= len(values):
                break
            if values[index] is not None:
                scope.promoted[slot] = (values[index], ("promoted", path, index))
            index += 1
            if extra > 0 and index < len(values) and values[index] in CONTROL_VALUES:
                scope.promoted_control[slot] = (values[index], ("promoted", path, index))
                index += 1
                extra -= 1

    def _feeds_widget(self, level: Level, slot: int) -> bool:
        """Whether subgraph input ``slot`` feeds a widget input of a node inside."""
        for local, feeds in level.feeds.items():
            for key, link in feeds.items():
                if (
                    isinstance(link, Link)
                    and link.origin == INPUT_NODE
                    and link.origin_slot == slot
                ):
                    node = level.nodes[local]
                    node_type = self.registry.get(node.get("type"))
                    declared = (
                        node_type.spec().input(key) if node_type and isinstance(key, str) else None
                    )
                    if declared is not None and declared.kind == "widget":
                        return True
                    entry = _input_entry(node, key)
                    if entry is not None and "widget" in entry:
                        return True
        return False

    def _group_values(self, scope: Scope, instance: dict, path: tuple) -> None:
        """A group node instance: its inputs mapped onto the inner nodes' free inputs, its
        widget values spread over the inner nodes' widgets in order."""
        inputs = instance.get("inputs") if isinstance(instance.get("inputs"), list) else []
        free = list(scope.level.external)
        used: set[int] = set()
        for slot, entry in enumerate(inputs):
            name = entry.get("name") if isinstance(entry, dict) else None
            if not isinstance(name, str):
                continue
            if len(inputs) == len(free):
                match = slot
            else:
                match = next(
                    (
                        i
                        for i, (_, inner) in enumerate(free)
                        if i not in used and (inner == name or name.endswith(" " + inner))
                    ),
                    None,
                )
            if match is not None and match < len(free):
                used.add(match)
                local, inner = free[match]
                scope.external.setdefault(local, {})[inner] = slot
        values = instance.get("widgets_values")
        if not isinstance(values, list):
            return
        overrides: dict = {}
        controls: dict = {}
        index = 0
        for local, node in scope.level.nodes.items():
            node_type = self.registry.get(node.get("type"))
            if node_type is None:
                if VIRTUAL_TYPES.get(_type(node)) is None:
                    index = -1
                    break
                continue
            taken = set(scope.level.feeds.get(local, {})) | set(scope.external.get(local, {}))
            for declared in node_type.spec().widgets:
                if declared.name in taken:
                    continue
                if index >= len(values):
                    index = -1
                    break
                overrides[(local, declared.name)] = (values[index], ("group", path, index))
                index += 1
                if declared.control and index < len(values) and values[index] in CONTROL_VALUES:
                    controls[(local, declared.name)] = (values[index], ("group", path, index))
                    index += 1
            if index < 0:
                break
        if index != len(values):
            if values:
                self.report.add(
                    "unsupported",
                    "its widget values do not line up with the widgets of the nodes inside: "
                    "the group node's own definition values are used",
                    node=scope.prefix[:-1],
                    class_type=instance.get("type"),
                )
            return
        scope.overrides.update({k: v for k, v in overrides.items() if v[0] is not None})
        scope.override_control.update(controls)

    # --- reporting ---

    def _missing(self, exec_id: str, class_type: str, name: str, reason: str) -> None:
        self.report.add(
            "missing_link",
            f"input {name!r}: {reason} (link dropped)",
            node=exec_id,
            class_type=class_type,
        )

    def _invalid(self, detail: str, **where) -> None:
        self.report.add("invalid", detail, **where)

    def _once(self, key: str, kind: str, detail: str, **where) -> None:
        if key not in self.reported:
            self.reported.add(key)
            self.report.add(kind, detail, **where)


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


def _slot(value: Any) -> int | None:
    """A slot index: an int or a numeric string, 0 to 9999."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isdigit() and len(value) <= 4:
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and 0 <= value < 10_000 else None


def _link(entry: Any, default_id: str | None) -> Link | None:
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
    ends = (node_id(origin), _slot(origin_slot), node_id(target), _slot(target_slot))
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


def _type(node: dict) -> str | None:
    class_type = node.get("type")
    return class_type if isinstance(class_type, str) else None


def _mode(node: dict) -> int:
    mode = node.get("mode", 0)
    return mode if isinstance(mode, int) and not isinstance(mode, bool) else 0


def _group_name(class_type: str) -> str | None:
    for prefix in GROUP_PREFIXES:
        if class_type.startswith(prefix):
            return class_type[len(prefix) :]
    return None


def _input_entry(node: dict, key: Any) -> dict | None:
    inputs = node.get("inputs")
    if not isinstance(inputs, list):
        return None
    for index, entry in enumerate(inputs):
        if isinstance(entry, dict) and (entry.get("name") == key or index == key):
            return entry
    return None


def _input_name(node: dict, slot: int) -> str | None:
    inputs = node.get("inputs")
    if isinstance(inputs, list) and slot < len(inputs) and isinstance(inputs[slot], dict):
        name = inputs[slot].get("name")
        return name if isinstance(name, str) else None
    return None


def _slot_name(spec, slot: int) -> str | None:
    """The name of input ``slot`` of a node written without its slots: its link inputs
    in spec order (the frontend's sockets)."""
    if spec is None:
        return None
    links = [declared.name for declared in spec.inputs if declared.kind == "link"]
    return links[slot] if slot < len(links) else None


def _where(kind: str, name: str) -> str:
    return {"top": "the workflow", "subgraph": f"subgraph {name}", "group": f"group node {name}"}[
        kind
    ]


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
