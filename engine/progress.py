"""Progress and interrupt checks for long-running nodes.

A node that loops calls ``progress.update(step, total)`` (optionally with a
``preview`` image) once per step: the UI gets a ``progress`` event and, if the
user interrupted the run, ``update`` raises ``InterruptProcessing`` so the node
stops at a step boundary. Outside a run both calls do nothing.

Events are coalesced to at most ``MAX_RATE`` per second per node; the last
value is always delivered when the node finishes.
"""

from __future__ import annotations

import contextvars
import time
from typing import Any

MAX_RATE = 10  # progress events per second per node


class NodeProgress:
    """The progress channel of one running node (set by the executor around its call)."""

    def __init__(self, node_id: str, display_node: str, emit, check_interrupted):
        self.node_id = node_id
        self.display_node = display_node
        self._emit = emit
        self._check_interrupted = check_interrupted
        self._last_emit = 0.0
        self._held: dict | None = None  # the newest update not yet delivered

    def update(self, value: float, total: float | None = None, preview: Any = None) -> None:
        self._check_interrupted()
        data = {
            "node": self.node_id,
            "display_node": self.display_node,
            "value": value,
            "max": total,
        }
        if preview is not None:
            data["preview"] = preview
        now = time.monotonic()
        if now - self._last_emit >= 1.0 / MAX_RATE:
            self._last_emit = now
            self._held = None
            self._emit(data)
        else:
            self._held = data

    def flush(self) -> None:
        if self._held is not None:
            self._emit(self._held)
            self._held = None


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
        channel._check_interrupted()
