"""Where nodes without a position go, and how big a node is drawn: in Python, so that
the static SVG (no browser) and the canvas agree.

Nodes added in code have no position. ``place`` gives each a column by its
depth (the longest chain of links from a node without linked inputs) and
stacks the nodes of a column, as a layered layout does; a node added later
goes to the right of its producers.
"""

from __future__ import annotations

from engine.graph import is_link

COLUMN = 320  # px between columns
GAP = 40  # px between nodes of a column
TITLE = 30
ROW = 24  # px per socket row or widget


def node_size(node: dict, defs: dict) -> list[float]:
    """The node's drawn size: its own ``ui.size``, else an estimate from its sockets and widgets."""
    size = (node.get("ui") or {}).get("size")
    if isinstance(size, (list, tuple)) and len(size) == 2:
        return [float(size[0]), float(size[1])]
    definition = defs.get(node.get("class_type"))
    if definition is None:
        rows = max(1, len(node.get("inputs") or {}))
        return [240.0, TITLE + ROW * rows]
    links = sum(1 for i in definition["inputs"] if i["kind"] == "link")
    widgets = sum(1 + bool(i.get("control")) for i in definition["inputs"] if i["kind"] == "widget")
    rows = max(links, len(definition["outputs"])) + widgets
    return [240.0, TITLE + ROW * max(rows, 1)]


def place(nodes: dict[str, dict], defs: dict) -> dict[str, list[float]]:
    """Positions for the nodes of ``nodes`` (id -> node state) that have none."""
    depth: dict[str, int] = {}

    def depth_of(node_id: str, seen: frozenset = frozenset()) -> int:
        if node_id in depth:
            return depth[node_id]
        if node_id in seen or node_id not in nodes:  # a cycle or a dangling link
            return 0
        producers = [v[0] for v in (nodes[node_id].get("inputs") or {}).values() if is_link(v)]
        d = 1 + max((depth_of(p, seen | {node_id}) for p in producers), default=-1)
        depth[node_id] = d
        return d

    placed: dict[str, list[float]] = {}
    bottom: dict[int, float] = {}  # column -> lowest y taken
    for node in nodes.values():
        pos = (node.get("ui") or {}).get("pos")
        if isinstance(pos, (list, tuple)) and len(pos) == 2:
            column = round(pos[0] / COLUMN)
            bottom[column] = max(bottom.get(column, 0.0), pos[1] + node_size(node, defs)[1])
    for node_id, node in nodes.items():
        if (node.get("ui") or {}).get("pos") is not None:
            continue
        column = depth_of(node_id)
        y = bottom.get(column, -GAP) + GAP
        placed[node_id] = [50.0 + column * COLUMN, y]
        bottom[column] = y + node_size(node, defs)[1]
    return placed
