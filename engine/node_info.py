"""What the executor needs to know of a node class and of a node, worked out once per run."""

from __future__ import annotations

from typing import Any

from .graph import is_link
from .nodespec import NodeSpec
from .registry import NodeType
from .signatures import NodeLinks
from .validation import PLAIN


class ClassInfo:
    """A node class as the hot path needs it, for one run: its spec and signature head."""

    __slots__ = ("head", "declared", "lazy", "raw", "defaults", "hidden", "volatile")

    def __init__(self, node_type: NodeType, spec: NodeSpec | None = None):
        """``spec``: the class's spec if validation already read it this run."""
        if spec is None:
            spec = node_type.spec()
        # The signature's first component: the node type, its code, and the globals
        # its code reads (after \x1d, as "name=fingerprint;..." for explain()).
        self.head = f"{node_type.name}\x1f{node_type.code}\x1d{node_type.globals_fingerprint()}"
        self.volatile = hasattr(node_type.cls, "IS_CHANGED")
        self.lazy = spec.lazy
        self.raw = spec.raw_links
        self.defaults = spec.defaults  # optional inputs' defaults
        self.hidden = spec.engine_hidden  # filled in by the engine
        self.declared = spec.declared


class NodeInfo:
    """One node of a run, as the executor sees it (built once per node per run)."""

    __slots__ = (
        "id",
        "type",
        "spec",
        "inputs",
        "links",
        "producers",
        "lazy",
        "raw",
        "node",
        "signature_links",
    )

    def __init__(self, node_id: str, node: dict, node_type: NodeType, spec: ClassInfo):
        self.id = node_id
        self.node = node
        self.type = node_type
        self.spec = spec
        self.inputs: dict = node.get("inputs", {})
        self.links: list[tuple[str, str, int]] = []  # (input, producer, slot)
        self.raw = spec.raw
        constants: list[tuple[str, Any]] = []
        plain = True  # every constant compares by value (see Signatures' memo)
        eager: list[tuple[str, str, int]] = []
        lazy: dict[str, tuple[str, int]] = {}
        links, declared, lazy_inputs = self.links, spec.declared, spec.lazy
        for name, value in self.inputs.items():
            if type(value) is list and is_link(value):
                link = (name, value[0], int(value[1]))
                links.append(link)
                if name in lazy_inputs:
                    lazy[name] = link[1:]
                else:
                    eager.append(link)
            elif name in declared:
                constants.append((name, value))
                if plain and type(value) not in PLAIN:
                    plain = False
        if len(constants) > 1:
            constants.sort()  # by name: names are unique, so values are never compared
        if len(eager) > 1:
            eager.sort()
        self.lazy = lazy.keys()
        self.producers = [link[1] for link in links]  # every producer, in input order
        head = f"{spec.head}\x1fid={node_id}" if node_type.not_idempotent else spec.head
        producers = [link[1] for link in eager]
        self.signature_links = NodeLinks(
            head, constants, eager, lazy, producers, spec.volatile, plain, node_type.name
        )
