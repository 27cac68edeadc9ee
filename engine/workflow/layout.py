"""A layered automatic layout for a graph that has no positions (built in code, an API prompt).

Each node goes in the column of its longest path from a source (a node linked
from nothing), so every link runs left to right; within a column nodes keep
their order in the graph. Links in a cycle are ignored for the layering.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping

__all__ = ["COLUMN_WIDTH", "layered_layout", "node_size"]

COLUMN_WIDTH = 360  # a node's width (300) and the gap to the next column
ROW_GAP = 40
ORIGIN = (50.0, 50.0)


def node_size(inputs: int, outputs: int, widgets: int) -> list[float]:
    """An editor-like size: a title bar, a row per slot pair, a row per widget."""
    return [300.0, float(30 + 22 * max(inputs, outputs) + 26 * widgets + 10)]


def layered_layout(
    edges: Mapping[str, Iterable[str]], heights: Mapping[str, float] | None = None
) -> dict[str, list[float]]:
    """Node id -> ``[x, y]``. ``edges``: every node id -> the ids it takes links from
    (in graph order); ``heights``: node id -> its height (default 100)."""
    nodes = list(edges)
    known = set(nodes)
    sources = {n: [s for s in dict.fromkeys(edges[n]) if s in known and s != n] for n in nodes}
    consumers: dict[str, list[str]] = {n: [] for n in nodes}
    waiting = {n: len(sources[n]) for n in nodes}
    for n in nodes:
        for s in sources[n]:
            consumers[s].append(n)
    layer = dict.fromkeys(nodes, 0)
    ready = deque(n for n in nodes if waiting[n] == 0)
    done: set[str] = set()
    next_free = 0  # nodes before this index are done
    while len(done) < len(nodes):
        if not ready:  # a cycle: release its first node as if its links were absent
            while nodes[next_free] in done:
                next_free += 1
            ready.append(nodes[next_free])
        node = ready.popleft()
        if node in done:
            continue
        done.add(node)
        for consumer in consumers[node]:
            layer[consumer] = max(layer[consumer], layer[node] + 1)
            waiting[consumer] -= 1
            if waiting[consumer] == 0 and consumer not in done:
                ready.append(consumer)
    positions: dict[str, list[float]] = {}
    column_y: dict[int, float] = {}
    for n in nodes:
        column = layer[n]
        y = column_y.get(column, ORIGIN[1])
        positions[n] = [ORIGIN[0] + column * COLUMN_WIDTH, y]
        column_y[column] = y + (heights or {}).get(n, 100.0) + ROW_GAP
    return positions
