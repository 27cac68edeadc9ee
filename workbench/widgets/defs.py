"""Node definitions for the canvas: ``object_info`` with each input's kind from its ``NodeSpec``.

The canvas builds a node's sockets and widgets from these; it never guesses
whether an input is a widget from its type name (one digest: ``engine.nodespec``).
"""

from __future__ import annotations

from engine import NodeRegistry

from .protocol import InputDef, NodeDef


def node_defs(registry: NodeRegistry) -> dict[str, NodeDef]:
    """Every node type of ``registry`` as a ``NodeDef`` (JSON-ready)."""
    info = registry.object_info()
    defs: dict[str, NodeDef] = {}
    for name, entry in info.items():
        node_type = registry.get(name)
        try:
            spec = node_type.spec()
        except Exception:  # a broken INPUT_TYPES: the type shows, without inputs
            spec = None
        inputs: list[InputDef] = []
        raw = entry["input"]
        for declared in spec.inputs if spec is not None else ():
            section = raw.get(declared.section, {})
            shown = section.get(declared.name)  # JSON-ready ([type, options])
            json_type = shown[0] if isinstance(shown, list) and shown else declared.type
            options = shown[1] if isinstance(shown, list) and len(shown) > 1 else {}
            inputs.append(
                {
                    "name": declared.name,
                    "type": json_type if isinstance(json_type, (str, list)) else str(json_type),
                    "kind": "widget" if declared.kind == "widget" else "link",
                    "control": declared.control,
                    "required": declared.required,
                    "options": options if isinstance(options, dict) else {},
                    "tooltip": declared.tooltip,
                }
            )
        tooltips = entry["output_tooltips"]
        outputs = [
            {
                "name": str(out_name),
                "type": str(out_type),
                "is_list": bool(is_list),
                "tooltip": str(tooltips[i]) if i < len(tooltips) and tooltips[i] else "",
            }
            for i, (out_name, out_type, is_list) in enumerate(
                zip(entry["output_name"], entry["output"], entry["output_is_list"], strict=False)
            )
        ]
        defs[name] = {
            "name": name,
            "display_name": entry["display_name"],
            "category": entry["category"],
            "description": entry["description"],
            "output_node": entry["output_node"],
            "inputs": inputs,
            "outputs": outputs,
        }
    return defs
