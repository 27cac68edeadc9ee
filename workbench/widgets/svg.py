"""The graph as a static SVG, drawn in Python: what the editor shows where no widget
frontend runs (nbconvert, GitHub), as the ``image/svg+xml`` of its display data.

``image/svg+xml``, not ``text/html``: JupyterLab reads every ``text/html`` output
through its HTML sanitizer to find headings for the table of contents, each time the
cell's outputs change (~75 ms for a 500-node picture, in the first editor's load);
an image it leaves alone. The picture is kept small for the same reason (and for the
notebook file): the links are one ``<path>``, and a node's texts take their colour
from its group.
"""

from __future__ import annotations

import html

from engine.graph import is_link

from .layout import TITLE, node_size, place

MAX_NODES = 2000  # beyond this the picture is a summary line: a notebook is no place for more


def _note(text: str) -> str:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="24">'
        f'<text x="4" y="16" font-style="italic" font-family="sans-serif" font-size="12">'
        f"{html.escape(text)}</text></svg>"
    )


def graph_svg(nodes: dict[str, dict], defs: dict) -> str:
    """An ``<svg>`` document of ``nodes`` (id -> node state): boxes, titles, values, links."""
    if not nodes:
        return _note("(empty graph)")
    if len(nodes) > MAX_NODES:
        return _note(f"a graph of {len(nodes)} nodes")
    positions = {n: list((node.get("ui") or {}).get("pos") or [0, 0]) for n, node in nodes.items()}
    positions.update(place(nodes, defs))
    sizes = {n: node_size(node, defs) for n, node in nodes.items()}
    left = min(p[0] for p in positions.values()) - 20
    top = min(p[1] for p in positions.values()) - TITLE - 20
    right = max(positions[n][0] + sizes[n][0] for n in nodes) + 20
    bottom = max(positions[n][1] + sizes[n][1] for n in nodes) + 20
    width, height = right - left, bottom - top
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{left:.0f} {top:.0f} {width:.0f} '
        f'{height:.0f}" width="{min(width, 960):.0f}" style="background:#222" '
        'font-family="sans-serif" font-size="12">'
    ]
    curves = []
    for node_id, node in nodes.items():
        tx, ty = positions[node_id][0], positions[node_id][1] + 14
        for value in (node.get("inputs") or {}).values():
            if is_link(value) and value[0] in positions:
                source = positions[value[0]]
                sx = source[0] + sizes[value[0]][0]
                sy = source[1] + 14 + 24 * int(value[1])
                mid = (sx + tx) / 2
                curves.append(
                    f"M{sx:.0f},{sy:.0f}C{mid:.0f},{sy:.0f} {mid:.0f},{ty:.0f} {tx:.0f},{ty:.0f}"
                )
    if curves:
        parts.append(f'<path d="{"".join(curves)}" stroke="#8a8" stroke-width="3" fill="none"/>')
    for node_id, node in nodes.items():
        x, y = positions[node_id]
        w, h = sizes[node_id]
        ui = node.get("ui") or {}
        class_type = str(node.get("class_type"))
        known = class_type in defs
        title = ui.get("title") or (defs[class_type]["display_name"] if known else class_type)
        muted = ' opacity="0.4"' if ui.get("mode", 0) in (2, 4) else ""
        parts.append(
            f'<g fill="#aaa"{muted}><rect x="{x:.0f}" y="{y - TITLE:.0f}" width="{w:.0f}" '
            f'height="{h:.0f}" rx="8" fill="{html.escape(str(ui.get("bgcolor") or "#353535"))}" '
            f'stroke="{"#666" if known else "#f44"}"/>'
            f'<text x="{x + 10:.0f}" y="{y - 10:.0f}" fill="#ddd">'
            f'{html.escape(str(title))} <tspan fill="#888">#{html.escape(node_id)}</tspan>'
            f"{'' if known else ' (missing)'}</text>"
        )
        row = y + 18
        for name, value in (node.get("inputs") or {}).items():
            if is_link(value):
                continue
            text = f"{name}: {value}" if not isinstance(value, dict) else name
            parts.append(f'<text x="{x + 12:.0f}" y="{row:.0f}">{html.escape(text[:40])}</text>')
            row += 24
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)
