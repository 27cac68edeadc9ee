"""Node modes: muted nodes left out of a prompt, bypassed nodes resolved through.

Modes are the UI workflow's: 0 always, 2 never (muted), 4 bypass. The rule for
a bypassed node is ComfyUI's frontend's (see ``docs/graph-model.md``): a link
to one of its outputs is re-pointed to the producer of one of its own linked
inputs, picked by type.
"""

from __future__ import annotations

from typing import Any

from ..graph import is_link
from ..registry import NodeRegistry
from ..validation import types_match

ALWAYS, NEVER, BYPASS = 0, 2, 4
MODES = {"always": ALWAYS, "never": NEVER, "mute": NEVER, "bypass": BYPASS}


def apply_modes(prompt: dict[str, dict], modes: dict[str, int], registry: NodeRegistry) -> dict:
    """The prompt without its muted and bypassed nodes, links through bypassed nodes resolved.

    ``modes``: node id -> mode, for the nodes not in mode 0. Links to a muted node
    are kept (dangling: validation names them); a link through a bypassed node
    that resolves to nothing is dropped. Returns a new prompt; nodes whose inputs
    change are copied.
    """
    skipped = {n for n, mode in modes.items() if mode in (NEVER, BYPASS) and n in prompt}
    if not skipped:
        return prompt
    bypassed = {n for n in skipped if modes[n] == BYPASS}
    result = {}
    for node_id, node in prompt.items():
        if node_id in skipped:
            continue
        inputs = node.get("inputs", {})
        changed = {}
        for name, value in inputs.items():
            if is_link(value) and value[0] in bypassed:
                changed[name] = _through(prompt, bypassed, registry, value)
        if changed:
            new_inputs = {k: v for k, v in inputs.items() if changed.get(k, v) is not None}
            new_inputs.update({k: v for k, v in changed.items() if v is not None})
            node = {**node, "inputs": new_inputs}
        result[node_id] = node
    return result


def _through(prompt, bypassed, registry, link: list) -> list | None:
    """Where a link to a bypassed node's output leads, or None."""
    seen = set()
    while is_link(link) and link[0] in bypassed:
        node_id, slot = link[0], int(link[1])
        if node_id in seen:  # bypassed nodes linked in a cycle: nothing to resolve to
            return None
        seen.add(node_id)
        link = _bypass_input(prompt[node_id], slot, registry)
        if link is None:
            return None
    return list(link)


def _bypass_input(node: dict, slot: int, registry: NodeRegistry) -> list | None:
    """The link of the bypassed ``node``'s input that stands for its output ``slot``."""
    node_type = registry.get(node.get("class_type"))
    if node_type is None:
        return None
    output_type = node_type.return_types[slot] if slot < len(node_type.return_types) else "*"
    inputs = node.get("inputs", {})
    try:
        declared = node_type.spec().inputs
    except Exception:  # a broken INPUT_TYPES(): its linked inputs in prompt order
        declared = ()
    names = [i.name for i in declared if is_link(inputs.get(i.name))]
    names += [n for n, v in inputs.items() if is_link(v) and n not in names]
    types: dict[str, Any] = {i.name: i.type for i in declared}
    chosen = bypass_choice(output_type, [(name, types.get(name, "*")) for name in names], slot)
    return None if chosen is None else inputs[chosen]


def bypass_choice(output_type: Any, candidates: list[tuple[Any, Any]], slot: int) -> Any:
    """Which of a bypassed node's linked inputs stands for its output ``slot``: a key.

    ``candidates``: (key, input type) of its linked inputs, in order. The rule
    is the frontend's: the input at the same slot index if its type fits the
    output's, else the first of exactly that type, else the first that fits;
    None if none fits.
    """
    if slot < len(candidates) and types_match(output_type, candidates[slot][1]):
        return candidates[slot][0]
    for key, input_type in candidates:
        if input_type == output_type:
            return key
    for key, input_type in candidates:
        if types_match(output_type, input_type):
            return key
    return None
