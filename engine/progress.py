"""Progress and interrupt checks for long-running nodes.

A node that loops calls ``progress.update(step, total)`` (optionally with a
``preview`` image) once per step: the UI gets a ``progress`` event and, if the
user interrupted the run, ``update`` raises ``InterruptProcessing`` so the node
stops at a step boundary. Outside a run both calls do nothing.

Events are coalesced to at most ``MAX_RATE`` per second per node; the last
value is always delivered when the node finishes.

``send(type, data)`` emits an event of a node's own (what a ComfyUI pack sends
with ``PromptServer.send_sync``) on the bus of the run the node belongs to.
"""

from __future__ import annotations

import contextvars
import time
from typing import Any

MAX_RATE = 10  # progress events per second per node


class NodeProgress:
    """The progress channel of one running node (set by the executor around its call).

    ``run`` is the executor's run: ``run.emit_progress(data)``,
    ``run.check_interrupted()`` and ``run.display_node(node_id)``. Cheap to make:
    one is made for every node call, most nodes never report.
    """

    __slots__ = ("node_id", "_run", "_last_emit", "held")

    def __init__(self, node_id: str, run):
        self.node_id = node_id
        self._run = run
        self._last_emit = 0.0
        self.held: dict | None = None  # the newest update not yet delivered

    def check_interrupted(self) -> None:
        self._run.check_interrupted()

    def send(self, type: str, data: dict) -> None:
        self._run.emit_event(type, data)

    def update(self, value: float, total: float | None = None, preview: Any = None) -> None:
        self._run.check_interrupted()
        data = {
            "node": self.node_id,
            "display_node": self._run.display_node(self.node_id),
            "value": value,
            "max": total,
        }
        if preview is not None:
            data["preview"] = preview
        now = time.monotonic()
        if now - self._last_emit >= 1.0 / MAX_RATE:
            self._last_emit = now
            self.held = None
            self._run.emit_progress(data)
        else:
            self.held = data

    def flush(self) -> None:
        if self.held is not None:
            self._run.emit_progress(self.held)
            self.held = None


_current: contextvars.ContextVar[NodeProgress | None] = contextvars.ContextVar(
    "node_progress", default=None
)


def update(value: float, total: float | None = None, preview: Any = None) -> None:
    """Report progress of the running node; raises ``InterruptProcessing`` if interrupted."""
    channel = _current.get()
    if channel is not None:
        channel.update(value, total, preview)


def check_interrupted() -> None:
    """Raise ``InterruptProcessing`` if the run this node belongs to was interrupted."""
    channel = _current.get()
    if channel is not None:
        channel.check_interrupted()


def current_node() -> str | None:
    """The id of the node whose code runs in this context (None outside a run)."""
    channel = _current.get()
    return channel.node_id if channel is not None else None


def send(type: str, data: dict) -> bool:
    """Emit event ``type`` with ``data`` from the running node; False outside a run (not sent)."""
    channel = _current.get()
    if channel is None:
        return False
    channel.send(type, data)
    return True
