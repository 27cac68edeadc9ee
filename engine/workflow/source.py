"""What a graph was opened from, kept so that saving writes back only what changed.

A reader fills one ``Source``; the writers read it. A *path* locates a node's
JSON object in ``document``: a tuple of keys and indexes, e.g. ``("nodes", 3)``
or ``("definitions", "subgraphs", 0, "nodes", 2)``. A *value origin* says where
a constant input was read from, so a changed value goes back there:

- ``("own", path, key)``: the node's own ``widgets_values`` (``key`` an index or
  a name) or, ``kind == "named"``, its ``widgets_values_named``;
- ``("primitive", path, index)``: a PrimitiveNode's ``widgets_values[index]``;
- ``("promoted", path, index)``: a subgraph instance's promoted-widget value;
- ``("group", path, index)``: a legacy group node instance's widget value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .widgets import WidgetValues

__all__ = ["Source", "at_path", "same"]


@dataclass
class Source:
    """The original document and how the graph's nodes came from it (module docstring)."""

    document: Any  # the parsed original, never changed
    kind: str  # "workflow" | "api"
    opened: dict[str, dict] = field(default_factory=dict)  # node id -> its record as opened
    where: dict[str, tuple] = field(default_factory=dict)  # node id -> path of its JSON object
    values: dict[tuple[str, str], tuple] = field(default_factory=dict)  # (node, input) -> origin
    controls: dict[tuple[str, str], tuple] = field(default_factory=dict)  # same, for its mode
    links: dict[tuple[str, str], str] = field(default_factory=dict)  # (node, input) -> link id
    widgets: dict[str, WidgetValues] = field(default_factory=dict)  # node id -> its values as read
    link_style: str = "list"  # top-level links as 0.4 lists or 1.0 objects


def at_path(document: Any, path: tuple) -> Any:
    """The object at ``path`` in ``document``, or None if it is not there."""
    value = document
    for key in path:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def same(a: Any, b: Any) -> bool:
    """Equal as JSON (so NaN equals NaN, and key order does not count)."""
    return _canonical(a) == _canonical(b)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr, allow_nan=True)
