"""Subgraph and group node instances: the scope each flattens into, and the values it gives.

A *scope* is a level (``levels.py``) as one instance sees it: its execution id
prefix (``"5:"``, nested ``"5:7:"``), the scope holding the instance, and the
widget values the instance holds for the nodes inside:

- a subgraph instance's *promoted* widget values, listed by
  ``properties.proxyWidgets`` (legacy: ``[inner node id, widget name]``, ``"-1"``
  for the instance's own input) or, in current files, one per subgraph input that
  feeds a widget, in input order;
- a legacy group node instance's values, spread over the inner nodes' widgets in
  order, and its inputs mapped onto the inner inputs no inner link feeds.

Values that do not line up are not guessed: the nodes' own values stand, and the
report says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..registry import NodeRegistry
from .levels import (
    INPUT_NODE,
    VIRTUAL_TYPES,
    Level,
    Link,
    input_entry,
    node_id,
    node_type,
    spec_of,
)
from .report import Report
from .widgets import CONTROL_VALUES

__all__ = ["Scope", "group_values", "promoted_values"]


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


def promoted_values(
    scope: Scope, instance: dict, path: tuple, registry: NodeRegistry, report: Report
) -> None:
    """The instance's promoted widget values: by ``properties.proxyWidgets``, else one
    per subgraph input that feeds a widget, in order."""
    values = instance.get("widgets_values")
    if not isinstance(values, list) or not values:
        return
    properties = instance.get("properties") if isinstance(instance.get("properties"), dict) else {}
    proxies = properties.get("proxyWidgets")
    names = [i.get("name") for i in scope.level.inputs]
    if isinstance(proxies, list):
        entries = [p for p in proxies if isinstance(p, list) and len(p) >= 2]
        if len(entries) != len(values):
            report.add(
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
        i
        for i, declared in enumerate(scope.level.inputs)
        if _feeds_widget(scope.level, i, registry)
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


def _feeds_widget(level: Level, slot: int, registry: NodeRegistry) -> bool:
    """Whether subgraph input ``slot`` feeds a widget input of a node inside."""
    for local, feeds in level.feeds.items():
        for key, link in feeds.items():
            if isinstance(link, Link) and link.origin == INPUT_NODE and link.origin_slot == slot:
                node = level.nodes[local]
                spec = spec_of(registry, node.get("type"))
                declared = spec.input(key) if spec is not None and isinstance(key, str) else None
                if declared is not None and declared.kind == "widget":
                    return True
                entry = input_entry(node, key)
                if entry is not None and "widget" in entry:
                    return True
    return False


def group_values(
    scope: Scope, instance: dict, path: tuple, registry: NodeRegistry, report: Report
) -> None:
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
        spec = spec_of(registry, node.get("type"))
        if spec is None:
            if VIRTUAL_TYPES.get(node_type(node)) is None:  # its widgets are unknown
                index = -1
                break
            continue
        taken = set(scope.level.feeds.get(local, {})) | set(scope.external.get(local, {}))
        for declared in spec.widgets:
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
            report.add(
                "unsupported",
                "its widget values do not line up with the widgets of the nodes inside: "
                "the group node's own definition values are used",
                node=scope.prefix[:-1],
                class_type=instance.get("type"),
            )
        return
    scope.overrides.update({k: v for k, v in overrides.items() if v[0] is not None})
    scope.override_control.update(controls)
