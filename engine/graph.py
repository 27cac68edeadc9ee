"""Graph structure: links, the dynamic prompt, and the builder nodes use to expand.

An API prompt maps node ids to ``{"class_type", "inputs"}``; an input value that
is a ``[node_id, output_index]`` list is a link, anything else a constant.

``DynamicPrompt`` is the prompt of one run: the original nodes plus the
*ephemeral* nodes that node expansion adds while the run goes on. Each ephemeral
node remembers its parent (the node that expanded it) and its display node (the
node the user sees it as), so errors and progress land on nodes that exist in
the user's graph.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from typing import Any, NamedTuple


class Link(NamedTuple):
    """A link in code; ``[node, slot]`` is only its wire format."""

    node: str
    slot: int


def is_link(value: Any) -> bool:
    """True for a ``[node_id: str, output_index: int]`` list (ComfyUI's wire format)."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], (int, float))
        and not isinstance(value[1], bool)
    )


class ExecutionBlocker:
    """A value that blocks everything downstream of it.

    With a message, each blocked node reports an ``execution_error`` with that
    message (the run goes on); with ``None`` the block is silent.
    """

    def __init__(self, message: str | None):
        self.message = message

    def __repr__(self) -> str:
        return f"ExecutionBlocker({self.message!r})"


class DynamicPrompt:
    """The original prompt plus the ephemeral nodes added by expansion during a run."""

    def __init__(self, original_prompt: dict[str, dict]):
        self.original_prompt = original_prompt
        self.ephemeral_prompt: dict[str, dict] = {}
        self.ephemeral_parents: dict[str, str] = {}
        self.ephemeral_display: dict[str, str] = {}

    def get_node(self, node_id: str) -> dict:
        node = self.ephemeral_prompt.get(node_id)
        if node is None:
            node = self.original_prompt.get(node_id)
        if node is None:
            raise KeyError(f"node {node_id!r} is not in the prompt")
        return node

    def has_node(self, node_id: str) -> bool:
        return node_id in self.original_prompt or node_id in self.ephemeral_prompt

    def add_ephemeral_node(self, node_id: str, node_info: dict, parent_id: str, display_id: str):
        self.ephemeral_prompt[node_id] = node_info
        self.ephemeral_parents[node_id] = parent_id
        self.ephemeral_display[node_id] = display_id

    def get_real_node_id(self, node_id: str) -> str:
        """The original node an ephemeral node descends from (itself if original)."""
        while node_id in self.ephemeral_parents:
            node_id = self.ephemeral_parents[node_id]
        return node_id

    def get_parent_node_id(self, node_id: str) -> str | None:
        return self.ephemeral_parents.get(node_id)

    def get_display_node_id(self, node_id: str) -> str:
        """The node the user sees this one as: follows display ids to an original node."""
        seen = 0
        while node_id in self.ephemeral_display and seen <= len(self.ephemeral_display):
            node_id = self.ephemeral_display[node_id]
            seen += 1
        return node_id

    def is_ephemeral(self, node_id: str) -> bool:
        return node_id in self.ephemeral_prompt

    def all_node_ids(self) -> set[str]:
        return set(self.original_prompt) | set(self.ephemeral_prompt)

    def get_original_prompt(self) -> dict[str, dict]:
        return self.original_prompt


def iter_links(inputs: dict) -> Iterator[tuple[str, str, int]]:
    """(input name, source node id, source slot) for every link among ``inputs``."""
    for name, value in inputs.items():
        if is_link(value):
            yield name, value[0], int(value[1])


# --- GraphBuilder: the API node packs use to return subgraphs ("expand") ---

# The executor sets the default prefix before each call of a node function so that
# the ids of expanded nodes are deterministic (and so cacheable) across runs. A
# context variable rather than a class attribute keeps two executors in two
# threads, or two concurrent async nodes, from mixing their prefixes.
_default_prefix: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "graph_builder_prefix", default=None
)


class GraphNode:
    """A node being built: ``out(i)`` links to its outputs."""

    def __init__(self, id: str, class_type: str, inputs: dict):
        self.id = id
        self.class_type = class_type
        self.inputs = inputs
        self.override_display_id: str | None = None

    def out(self, index: int) -> list:
        return [self.id, index]

    def set_input(self, key: str, value: Any) -> None:
        if value is None:
            self.inputs.pop(key, None)
        else:
            self.inputs[key] = value

    def get_input(self, key: str) -> Any:
        return self.inputs.get(key)

    def set_override_display_id(self, override_display_id: str) -> None:
        self.override_display_id = override_display_id

    def serialize(self) -> dict:
        data = {"class_type": self.class_type, "inputs": self.inputs}
        if self.override_display_id is not None:
            data["override_display_id"] = self.override_display_id
        return data


class GraphBuilder:
    """Builds the subgraph a node returns as ``{"result": ..., "expand": graph}``."""

    def __init__(self, prefix: str | None = None):
        self.prefix = GraphBuilder.alloc_prefix() if prefix is None else prefix
        self.nodes: dict[str, GraphNode] = {}
        self.id_gen = 1

    @classmethod
    def set_default_prefix(cls, prefix_root: str, call_index: int, graph_index: int = 0) -> None:
        _default_prefix.set([prefix_root, call_index, graph_index])

    @classmethod
    def alloc_prefix(cls, root=None, call_index=None, graph_index=None) -> str:
        state = _default_prefix.get()
        if state is None:
            state = ["", 0, 0]
            _default_prefix.set(state)
        root = state[0] if root is None else root
        call_index = state[1] if call_index is None else call_index
        graph_index = state[2] if graph_index is None else graph_index
        state[2] += 1
        return f"{root}.{call_index}.{graph_index}."

    def node(self, class_type: str, id: str | None = None, **inputs) -> GraphNode:
        if id is None:
            id = str(self.id_gen)
            self.id_gen += 1
        id = self.prefix + id
        if id not in self.nodes:
            self.nodes[id] = GraphNode(id, class_type, inputs)
        return self.nodes[id]

    def lookup_node(self, id: str) -> GraphNode | None:
        return self.nodes.get(self.prefix + id)

    def remove_node(self, id: str) -> None:
        del self.nodes[self.prefix + id]

    def replace_node_output(self, node_id: str, index: int, new_value: Any) -> None:
        """Point every input linked to ``node_id``'s output ``index`` at ``new_value``."""
        node_id = self.prefix + node_id
        for node in self.nodes.values():
            for key, value in list(node.inputs.items()):
                if is_link(value) and value[0] == node_id and value[1] == index:
                    node.set_input(key, new_value)

    def finalize(self) -> dict[str, dict]:
        return {node_id: node.serialize() for node_id, node in self.nodes.items()}
