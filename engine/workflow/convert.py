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
from dataclasses import dataclass
from typing import Any

from ..nodespec import NO_DEFAULT
from ..registry import NodeRegistry
from .instances import Scope, group_values, promoted_values
from .jsondoc import MAX_NESTING, MAX_NODES, copy_json
from .levels import (
    INPUT_NODE,
    VIRTUAL_TYPES,
    Level,
    Link,
    Missing,
    group_name,
    node_mode,
    node_type,
    pair,
    read_level,
)
from .modes import BYPASS, NEVER, bypass_choice
from .report import Report
from .source import Source
from .widgets import CONTROL_VALUES, fallback_value, policy_of, read_widget_values, to_wire

__all__ = ["UI_ONLY_KEYS", "convert_workflow"]

MAX_CHAIN = 10_000  # links followed to resolve one input (reroutes, subgraph boundaries)
UI_ONLY_KEYS = ("virtual", "parent")  # ui keys the reader adds; never written to a node


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
        top = read_level("top", "", self.doc, (), self.registry, self._invalid)
        links = self.doc.get("links")
        if self.doc.get("version") == 1 or (
            isinstance(links, list) and links and isinstance(links[0], dict)
        ):
            self.source.link_style = "object"  # 1.0 writes links as objects
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
        mode = node_mode(node)
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
            class_type = node_type(node)
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
                mode = node_mode(node)
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
        if group_name(class_type) is not None and self._group_definition(class_type) is not None:
            return "group node"
        return None

    def _group_definition(self, class_type: str) -> dict | None:
        groups = (
            self.doc.get("extra", {}).get("groupNodes")
            if isinstance(self.doc.get("extra"), dict)
            else None
        )
        name = group_name(class_type)
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
                level = read_level(
                    "subgraph", class_type, definition, path, self.registry, self._invalid
                )
            else:
                name = group_name(class_type)
                level = read_level(
                    "group",
                    class_type,
                    self._group_definition(class_type),
                    ("extra", "groupNodes", name),
                    self.registry,
                    self._invalid,
                )
            self.levels[class_type] = level
        child = Scope(level, prefix, scope, local, scope.depth + 1)
        instance_path = scope.level.paths[local]
        if kind == "subgraph":
            promoted_values(child, node, instance_path, self.registry, self.report)
        else:
            group_values(child, node, instance_path, self.registry, self.report)
        self.scopes[prefix] = child
        return child

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


def _slot_name(spec, slot: int) -> str | None:
    """The name of input ``slot`` of a node written without its slots: its link inputs
    in spec order (the frontend's sockets)."""
    if spec is None:
        return None
    links = [declared.name for declared in spec.inputs if declared.kind == "link"]
    return links[slot] if slot < len(links) else None


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
