"""The graph as a static SVG, drawn in Python: what the editor shows where no widget
frontend runs (nbconvert, GitHub), in the notebook's ``text/html`` output."""

from __future__ import annotations

import html

from engine.graph import is_link

from .layout import TITLE, node_size, place

MAX_NODES = 2000  # beyond this the picture is a summary line: a notebook is no place for more


def graph_svg(nodes: dict[str, dict], defs: dict) -> str:
    """An ``<svg>`` of ``nodes`` (id -> node state): boxes, titles, links."""
    if not nodes:
        return "<div><i>(empty graph)</i></div>"
    if len(nodes) > MAX_NODES:
        return f"<div><i>a graph of {len(nodes)} nodes</i></div>"
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
        f'{height:.0f}" width="{min(width, 960):.0f}" style="background:#222;font:12px sans-serif">'
    ]
    for node_id, node in nodes.items():
        for value in (node.get("inputs") or {}).values():
            if is_link(value) and value[0] in positions:
                source = positions[value[0]]
                sx = source[0] + sizes[value[0]][0]
                sy = source[1] + 14 + 24 * int(value[1])
                tx, ty = positions[node_id][0], positions[node_id][1] + 14
                mid = (sx + tx) / 2
                parts.append(
                    f'<path d="M{sx:.0f},{sy:.0f} C{mid:.0f},{sy:.0f} {mid:.0f},{ty:.0f} '
                    f'{tx:.0f},{ty:.0f}" stroke="#8a8" stroke-width="3" fill="none"/>'
                )
    for node_id, node in nodes.items():
        x, y = positions[node_id]
        w, h = sizes[node_id]
        ui = node.get("ui") or {}
        class_type = str(node.get("class_type"))
        known = class_type in defs
        title = ui.get("title") or (defs[class_type]["display_name"] if known else class_type)
        mode = ui.get("mode", 0)
        opacity = "0.4" if mode in (2, 4) else "1"
        stroke = "#f44" if not known else "#666"
        parts.append(
            f'<g opacity="{opacity}"><rect x="{x:.0f}" y="{y - TITLE:.0f}" width="{w:.0f}" '
            f'height="{h:.0f}" rx="8" fill="{html.escape(str(ui.get("bgcolor") or "#353535"))}" '
            f'stroke="{stroke}"/>'
            f'<text x="{x + 10:.0f}" y="{y - 10:.0f}" fill="#ddd">'
            f"{html.escape(str(title))} <tspan fill='#888'>#{html.escape(node_id)}</tspan>"
            f"{'' if known else ' (missing)'}</text>"
        )
        row = y + 18
        for name, value in (node.get("inputs") or {}).items():
            if is_link(value):
                continue
            text = f"{name}: {value}" if not isinstance(value, dict) else name
            parts.append(
                f'<text x="{x + 12:.0f}" y="{row:.0f}" fill="#aaa">{html.escape(text[:40])}</text>'
            )
            row += 24
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)
