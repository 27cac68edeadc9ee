"""The kernel ↔ canvas messages of the editor, typed (``docs/editor-protocol.md``).

Each message is a JSON object with a ``type``; binary payloads (preview images)
travel as the message's buffers. The JavaScript side declares the same shapes
in ``js/protocol.js``.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

PROTOCOL = 2  # bump on any change of a message's shape, here and in js/protocol.js
SNAPSHOT_VERSION = 1


class NodeState(TypedDict, total=False):
    """One node as the canvas sees it (``Graph`` wire form)."""

    class_type: str
    inputs: dict[str, Any]
    ui: dict[str, Any]
    control: dict[str, str]


class Snapshot(TypedDict):
    version: int
    revision: int  # the widget's count of graph changes when it was made (see Hello)
    nodes: dict[str, NodeState]


class InputDef(TypedDict, total=False):
    name: str
    type: Any  # a type name, or a list of choices (COMBO)
    kind: Literal["widget", "link"]
    control: bool
    required: bool
    options: dict[str, Any]
    tooltip: str


class NodeDef(TypedDict):
    name: str
    display_name: str
    category: str
    description: str
    output_node: bool
    inputs: list[InputDef]
    outputs: list[dict[str, Any]]  # {"name", "type", "is_list", "tooltip"}


# --- canvas -> kernel ---


class Hello(TypedDict):
    type: Literal["hello"]
    protocol: int
    revision: int | None  # of the snapshot the view's session built (or is about to)


class Edit(TypedDict):
    type: Literal["edit"]
    seq: int
    ops: list[dict]


class Selection(TypedDict):
    type: Literal["selection"]
    nodes: list[str]


class RunRequest(TypedDict, total=False):
    type: Literal["run"]
    number: int
    front: bool
    selected: bool


class Cancel(TypedDict):
    type: Literal["cancel"]
    job: str


# --- kernel -> canvas ---


class State(TypedDict):
    type: Literal["state"]
    protocol: int
    graph: Snapshot | None  # None: unchanged since the hello's revision
    status: dict[str, Any]
    errors: dict | None


class NodeStatus(TypedDict, total=False):
    state: Literal["idle", "running", "cached", "ran", "error"]
    progress: float
    ms: float
    message: str


class Status(TypedDict, total=False):
    type: Literal["status"]
    job: str | None
    running: str | None
    reset: bool
    nodes: dict[str, NodeStatus]


class QueueEntry(TypedDict, total=False):
    id: str
    number: int
    status: str
    after: str | None  # the job before it in run order (None: first)
    label: str


class QueueDelta(TypedDict):
    type: Literal["queue"]
    added: list[QueueEntry]
    changed: list[QueueEntry]
    removed: list[str]


class HistoryEntry(TypedDict, total=False):
    id: str
    number: int
    status: str
    ms: float | None
    seeds: dict[str, dict]
    executed: int
    cached: int


class Preview(TypedDict):
    type: Literal["preview"]
    node: str
    kind: Literal["output", "progress"]
    mime: str
    count: int


class Errors(TypedDict):
    type: Literal["errors"]
    message: str
    nodes: dict[str, dict]  # node id -> {"message", "inputs": [names]}
