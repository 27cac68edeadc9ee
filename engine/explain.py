"""Why a node ran or came from the cache: its signature, component by component.

Each run leaves a ``RunTrace``: the signature of every node it looked at and
what went into it (``signatures.NodeLinks``: class and code, constants, links)
plus each ``IS_CHANGED`` result. Comparing a node's components in two traces
names what changed: its code, a constant, ``IS_CHANGED``, or an upstream node,
followed up to the node where the change started.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .fingerprint import FLEETING
from .signatures import NodeLinks


class LinksView(Mapping):
    """node id -> NodeLinks, read through a run's node infos (no copy per run)."""

    def __init__(self, infos: Mapping):
        self._infos = infos

    def __getitem__(self, node_id: str) -> NodeLinks:
        return self._infos[node_id].signature_links

    def __iter__(self):
        return iter(self._infos)

    def __len__(self) -> int:
        return len(self._infos)


@dataclass
class RunTrace:
    """What one run's signatures were made of (kept on its ``ExecutionResult``)."""

    keys: dict[str, str] = field(default_factory=dict)
    links: Mapping[str, NodeLinks] = field(default_factory=dict)
    changed: dict[str, str] = field(default_factory=dict)  # IS_CHANGED fingerprints
    executed: set[str] = field(default_factory=set)
    cached: set[str] = field(default_factory=set)


def explain(node_id: str, now: RunTrace, before: RunTrace | None) -> str:
    """One readable paragraph: why ``node_id`` ran or was cached in ``now``."""
    if node_id in now.cached:
        return (
            f"{node_id} was served from the cache: its code, its constants and the results "
            "it depends on are the same as when it last ran."
        )
    if node_id not in now.executed:
        return f"{node_id} did not run: the requested outputs do not need it (or the run stopped before it)."
    if before is None or node_id not in before.keys or node_id not in before.links:
        return (
            f"{node_id} ran: the previous run did not compute it, so there was nothing to compare."
        )
    reasons = _differences(node_id, now, before)
    if not reasons:
        return (
            f"{node_id} ran although nothing in its cache key changed: its earlier result was no "
            "longer in the cache (evicted, or the cache strategy keeps nothing)."
        )
    return f"{node_id} ran because " + "; and ".join(reasons) + "."


def _differences(node_id: str, now: RunTrace, before: RunTrace) -> list[str]:
    new, old = now.links[node_id], before.links[node_id]
    reasons = []
    if new.head != old.head:
        (kind, code, used), (old_kind, old_code, old_used) = _head(new.head), _head(old.head)
        if kind != old_kind:
            reasons.append(f"its node type changed from {old_kind} to {kind}")
        elif code != old_code:
            reasons.append(f"the code of node type {kind} changed (it was redefined)")
        else:
            changed = sorted(n for n in set(used) | set(old_used) if used.get(n) != old_used.get(n))
            names = ", ".join(changed) or "?"
            reasons.append(f"a global its code reads changed ({names})")
    if new.volatile and now.changed.get(node_id) != before.changed.get(node_id):
        if now.changed.get(node_id, "").startswith(FLEETING):
            reasons.append("its IS_CHANGED returned NaN, which means: always run again")
        else:
            reasons.append("its IS_CHANGED result changed")
    old_constants, new_constants = dict(old.constants), dict(new.constants)
    for name in sorted(set(old_constants) | set(new_constants)):
        if name not in new_constants:
            reasons.append(f"constant {name!r} was removed")
        elif name not in old_constants:
            reasons.append(f"constant {name!r} was added ({_short(new_constants[name])})")
        elif not _same(old_constants[name], new_constants[name]):
            reasons.append(
                f"constant {name!r} changed from {_short(old_constants[name])} to {_short(new_constants[name])}"
            )
    old_links = {name: (producer, slot) for name, producer, slot in old.eager}
    for name, producer, slot in new.eager:
        if old_links.get(name) != (producer, slot):
            reasons.append(f"input {name!r} is now linked to {producer} output {slot}")
        elif now.keys.get(producer) != before.keys.get(producer):
            origin = _origins(producer, now, before)
            where = (
                f" (where the change started: {', '.join(origin)})"
                if origin and origin != [producer]
                else ""
            )
            reasons.append(f"input {name!r} comes from {producer}, whose result changed{where}")
    for name in sorted(set(old_links) - {n for n, _, _ in new.eager}):
        reasons.append(f"input {name!r} is no longer linked")
    return reasons


def _head(head: str) -> tuple[str, str, dict[str, str]]:
    """(node type, code fingerprint, {global name: fingerprint}) of a signature's head."""
    kind_and_code, _, used = head.partition("\x1d")
    kind, _, code = kind_and_code.partition("\x1f")
    pairs = (item.split("=", 1) for item in used.split("\x1fid=")[0].split(";") if "=" in item)
    return kind, code, dict(pairs)


def _origins(node_id: str, now: RunTrace, before: RunTrace) -> list[str]:
    """The upstream nodes where a change of ``node_id``'s key started (no recursion)."""
    origins, seen, stack = [], {node_id}, [node_id]
    while stack:
        current = stack.pop()
        links = now.links.get(current)
        changed_producers = [
            p
            for _, p, _ in (links.eager if links else ())
            if p in before.keys and now.keys.get(p) != before.keys.get(p)
        ]
        if not changed_producers:
            origins.append(current)
        for producer in changed_producers:
            if producer not in seen:
                seen.add(producer)
                stack.append(producer)
    return sorted(origins)


def _same(a, b) -> bool:
    try:
        return bool(a == b)
    except Exception:
        return a is b


def _short(value, limit: int = 60) -> str:
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"{type(value).__name__} of shape {list(shape)}"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
