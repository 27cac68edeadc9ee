"""Input signatures: the cache key of a node's outputs.

A node's signature is a digest of, in order:

1. its class type and the fingerprint of that class's code (a redefined node
   type gets new signatures, and so does everything downstream of it);
2. the result of its ``IS_CHANGED`` (NaN, or an exception, means "changed":
   a fresh random component, so the node reruns every time);
3. its own id, for ``NOT_IDEMPOTENT`` nodes only;
4. each declared constant input, by content (``fingerprint.py``);
5. for each linked input, the producer's *signature* and output slot.

Because (5) uses the producer's digest, not its inputs, a signature costs
O(inputs) once its producers' are known: the whole prompt costs O(nodes + links)
(ComfyUI re-walks all ancestors per node, which is quadratic on chains).

Lazy inputs: a lazy input the node did not ask for must not invalidate it
(ComfyUI's "lazy evidence"). The digest of (1)–(5) without the lazy links is
the *eager key*; after a node runs, the names of the lazy inputs it evaluated
are recorded against its eager key, and its signature is the eager key plus
the signatures of exactly those producers. Before it runs, the recorded
evidence predicts that set: with the same eager key, ``check_lazy_status``
sees the same inputs and so asks for the same ones. With no evidence yet, the
signature is unknown until the node has run.

Expansions: a node that returns a subgraph ("expand") produces values made by
the node types of that subgraph, so their code is part of what its outputs
depend on. After it runs, the class types its expansion used (nested ones
included) are recorded against its eager key, as lazy evidence is, and its
signature adds their current heads (code and globals fingerprints): redefining
a node type used inside an expansion reruns the expanding node and what is
downstream of it. A class is known to expand once one of its nodes has; a node of
it is then signed only once its last expansion is known. The first time a node
expands, its signature changes as it finishes, and the nodes downstream of it
(which cannot have run yet) are signed again from the new one.

Blind spots: what a node reads that is not an input (files, globals, the
clock) is invisible unless its ``IS_CHANGED`` reports it; see
``fingerprint.py`` for the code fingerprint's own blind spot.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

from .fingerprint import FLEETING, changing, digest, fingerprint


class NodeLinks(NamedTuple):
    """What the signature needs of one node (built once per node per run)."""

    head: str  # class type, code fingerprint, own id if not idempotent
    constants: list[tuple[str, Any]]  # declared constant inputs, sorted by name
    eager: list[tuple[str, str, int]]  # (input, producer, slot), sorted by input name
    lazy: dict[str, tuple[str, int]]  # lazy input -> (producer, slot)
    producers: list[str]  # the producers of ``eager``
    volatile: bool  # has IS_CHANGED
    plain: bool  # every constant is a str/int/float/bool/None (compares by value)
    kind: str = ""  # its class type


class _Records:
    """Eager key → what the node did last time (bounded, LRU)."""

    def __init__(self, max_size: int):
        self.max_size = max_size
        self._records: OrderedDict[str, frozenset[str]] = OrderedDict()

    def get(self, eager_key: str) -> frozenset[str] | None:
        names = self._records.get(eager_key)
        if names is not None:
            self._records.move_to_end(eager_key)
        return names

    def record(self, eager_key: str, names: frozenset[str]) -> None:
        self._records[eager_key] = names
        self._records.move_to_end(eager_key)
        if len(self._records) > self.max_size:
            self._records.popitem(last=False)

    def clear(self) -> None:
        self._records.clear()


class LazyEvidence(_Records):
    """Eager key → the lazy inputs the node evaluated last time; and what expansions used.

    ``expansions``: eager key → the class types its expansion used last time.
    ``expanding``: the class types any of whose nodes has expanded (see the module
    docstring); empty until one has, which keeps the common path free of lookups.
    """

    def __init__(self, max_size: int = 100_000):
        super().__init__(max_size)
        self.expansions = _Records(max_size)
        self.expanding: set[str] = set()

    def clear(self) -> None:
        super().clear()
        self.expansions.clear()
        self.expanding.clear()


class Signatures:
    """The signatures of one run's nodes, each computed once (iteratively: no recursion)."""

    def __init__(
        self,
        links: Callable[[str], NodeLinks],
        is_changed: Callable[[str], Any],
        evidence: LazyEvidence,
        previous: dict[str, tuple] | None = None,
        head: Callable[[str], str] | None = None,
        consumers: Callable[[str], set[str]] | None = None,
    ):
        """``previous`` is the ``learnt`` of the last run: node id -> (its NodeLinks,
        its producers' signatures, its eager key). A node whose class, plain
        constants and producers' signatures are all unchanged gets its eager key
        back without hashing."""
        self._previous = previous or {}
        self.learnt: dict[str, tuple] = {}
        # Nodes whose signature has a random part (IS_CHANGED NaN, an unfingerprintable
        # constant, or such a node upstream): no later run can ask for their outputs.
        self.fleeting: set[str] = set()
        self._links = links
        self._is_changed = is_changed
        self._evidence = evidence
        self._head = head  # class type -> its current head (for expansions)
        self._consumers = consumers  # node id -> the nodes linking to it
        self.keys: dict[str, str] = {}  # node id -> signature
        self._eager: dict[str, str] = {}  # node id -> eager key
        self._unknown: set[str] = set()  # no signature yet; cleared when a node records one
        self.changed: dict[str, str] = {}  # node id -> IS_CHANGED fingerprint

    def adopt(self, keys: dict[str, str], node_ids) -> None:
        """Take the last run's signatures of ``node_ids`` as they are (the caller has
        established that nothing they were made of has changed), and its memo."""
        mine = self.keys
        for node_id in node_ids:
            key = keys.get(node_id)
            if key is not None:
                mine[node_id] = key
        self.learnt = self._previous

    def forward(self, node_ids) -> None:
        """Sign ``node_ids``, given each after its producers: one pass, no walking.

        Nodes with lazy inputs or ``IS_CHANGED``, and those downstream of them, are
        left to ``get``, which signs only what the run asks for: ``IS_CHANGED`` is
        node code, and must not run for a node that only an unevaluated lazy
        input leads to.
        """
        keys, links_of, eager_key = self.keys, self._links, self._eager_key
        expanding = self._evidence.expanding
        for node_id in node_ids:
            links = links_of(node_id)
            if links.lazy or links.volatile or (expanding and links.kind in expanding):
                continue
            for producer in links.producers:
                if producer not in keys:
                    break
            else:
                keys[node_id] = eager_key(node_id, links)

    def get(self, node_id: str) -> str | None:
        """The node's signature, or None while it cannot be known before the node runs."""
        key = self.keys.get(node_id)
        if key is not None or node_id in self._unknown:
            return key
        keys, unknown = self.keys, self._unknown
        stack = [node_id]
        # Expanded and not finished: on the current depth-first path, so a
        # producer found here closes a cycle (possible only in expanded subgraphs).
        in_progress: set[str] = set()
        links_of = self._links
        while stack:
            current = stack[-1]
            if current in keys or current in unknown:
                stack.pop()
                continue
            links = links_of(current)
            producers = self._producers(current) if links.lazy else links.producers
            missing = [p for p in producers if p not in keys and p not in unknown]
            if missing:
                if any(p in in_progress for p in missing):
                    unknown.add(current)
                    in_progress.discard(current)
                    stack.pop()
                else:
                    in_progress.add(current)
                    stack.extend(missing)
                continue
            stack.pop()
            in_progress.discard(current)
            key = self._compose(current, links)
            if key is None:
                unknown.add(current)
            else:
                keys[current] = key
        return keys.get(node_id)

    def record(
        self, node_id: str, evaluated_lazy: set[str], expanded: frozenset[str] | None = None
    ) -> str:
        """The node has run, evaluating ``evaluated_lazy`` (and expanding into nodes of the
        class types ``expanded``, if it expanded): fix its signature."""
        links = self._links(node_id)
        evidence = self._evidence
        if expanded is not None:
            evidence.expanding.add(links.kind)
        if links.kind in evidence.expanding:
            eager = self._eager_key(node_id, links)
            if eager is not None:
                evidence.expansions.record(eager, expanded or frozenset())
        known = self.keys.get(node_id)
        if known is not None and not links.lazy and not expanded:
            return known  # computed before it ran, and nothing lazy could change it
        self._unknown.clear()  # what was unknown because of this node may be known now
        for _, producer, _ in links.eager:
            self.get(producer)
        eager = self._eager_key(node_id, links)
        if eager is None:  # a producer without a signature: store under a key nothing will ask for
            key = changing()
            self.fleeting.add(node_id)
        elif links.lazy:
            names = frozenset(evaluated_lazy & links.lazy.keys())
            self._evidence.record(eager, names)
            for name in names:
                self.get(links.lazy[name][0])
                if links.lazy[name][0] in self.fleeting:
                    self.fleeting.add(node_id)
            key = self._with_lazy(eager, links, names)
        else:
            key = eager
        if expanded and key is not None:
            key = self._with_expansion(key, expanded)
            if known is not None and key != known:
                self._forget_downstream(node_id)
        self.keys[node_id] = key
        return key

    def _forget_downstream(self, node_id: str) -> None:
        """Drop the signatures made from ``node_id``'s old one (its consumers have not run)."""
        if self._consumers is None:
            return
        frontier, seen = [node_id], {node_id}
        while frontier:
            for consumer in self._consumers(frontier.pop()):
                if consumer not in seen:
                    seen.add(consumer)
                    frontier.append(consumer)
                    self.keys.pop(consumer, None)
                    self._eager.pop(consumer, None)
                    self.learnt.pop(consumer, None)
        self._unknown.clear()

    def _producers(self, node_id: str) -> list[str]:
        """The nodes whose signatures this one's needs (lazy ones per the evidence)."""
        links = self._links(node_id)
        producers = links.producers
        if links.lazy and all(p in self.keys for p in producers):
            names = self._evidence.get(self._eager_key(node_id, links))
            if names:
                producers = producers + [links.lazy[n][0] for n in names if n in links.lazy]
        return producers

    def _eager_key(self, node_id: str, links: NodeLinks) -> str | None:
        eager = self._eager.get(node_id)
        if eager is not None:
            return eager
        keys = self.keys
        linked = []  # the producers' signatures, in the order of links.eager
        for _, producer, _ in links.eager:
            key = keys.get(producer)
            if key is None:
                return None
            linked.append(key)
        reusable = links.plain and not links.volatile
        if reusable:
            known = self._previous.get(node_id)
            if known is not None and known[1] == linked and _same_links(known[0], links):
                self.learnt[node_id] = known
                eager = self._eager[node_id] = known[2]
                return eager
        parts = [links.head, self._changed_fingerprint(node_id) if links.volatile else ""]
        for name, value in links.constants:
            parts.append(f"{name}={fingerprint(value)}")
        for (name, _, slot), key in zip(links.eager, linked, strict=True):
            parts.append(f"{name}=@{key}:{slot}")
        text = "\x1e".join(parts)
        fleeting = self.fleeting
        if FLEETING in text or (fleeting and any(p in fleeting for _, p, _ in links.eager)):
            fleeting.add(node_id)
        eager = self._eager[node_id] = digest(text)
        if reusable:
            self.learnt[node_id] = (links, linked, eager)
        return eager

    def _compose(self, node_id: str, links: NodeLinks) -> str | None:
        eager = self._eager_key(node_id, links)
        if eager is None:
            return None
        key = eager
        if links.lazy:
            names = self._evidence.get(eager)
            if names is None:
                return None
            key = self._with_lazy(eager, links, names)
        if key is not None and links.kind in self._evidence.expanding:
            used = self._evidence.expansions.get(eager)
            if used is None:  # it has not run since its class first expanded
                return None
            if used:
                key = self._with_expansion(key, used)
        return key

    def _with_expansion(self, key: str, classes: frozenset[str]) -> str:
        head = self._head or (lambda class_type: "")
        parts = [key, *(f"expands {c}={head(c)}" for c in sorted(classes))]
        return digest("\x1e".join(parts))

    def _with_lazy(self, eager: str, links: NodeLinks, names: frozenset[str]) -> str | None:
        parts = [eager]
        for name in sorted(names):
            producer, slot = links.lazy[name]
            key = self.keys.get(producer)
            if key is None:
                return None
            parts.append(f"{name}=@{key}:{slot}")
        return digest("\x1e".join(parts)) if len(parts) > 1 else eager

    def _changed_fingerprint(self, node_id: str) -> str:
        value = self.changed.get(node_id)
        if value is None:
            try:
                result = self._is_changed(node_id)
            except Exception:
                value = changing()  # ComfyUI treats a failing IS_CHANGED as NaN
            else:
                value = changing() if _has_nan(result) else fingerprint(result)
            self.changed[node_id] = value
        return value


def _same_links(old: NodeLinks, new: NodeLinks) -> bool:
    return old is new or (
        old.head == new.head and old.eager == new.eager and old.constants == new.constants
    )


def _has_nan(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, (list, tuple)):
        return any(_has_nan(v) for v in value)
    return False
