"""``GraphEditor``: the LiteGraph canvas as an anywidget, a view of one ``Graph``.

Protocol: ``docs/editor-protocol.md``. The widget subscribes to the graph (edit
ops go to the canvas) and to the session's queue (run status, previews, queue
deltas); the canvas's edits come back as edit ops, applied with ``Graph.apply``.
Outgoing traffic is coalesced by one ``Throttle`` per kind, each at most 20
flushes a second: edit ops; run status (with progress previews and a run's
errors); outputs (the previews and texts of executed nodes); the queue (deltas,
history). One per kind, so that none waits for another: a run's output is sent
as soon as its node has executed, not 50 ms after the queue delta or the status
that came just before it. The ``snapshot`` trait, which the notebook saves, is
written half a second after an edit (with the edits made meanwhile). ``close()``
unsubscribes everything.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from ..graph import Graph
from .defs import node_defs
from .layout import place
from .previews import encode, output_images, to_pil
from .protocol import PROTOCOL, SNAPSHOT_VERSION
from .queue_view import QueueView
from .status import RunStatus
from .throttle import Throttle

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
MAX_DROP_BYTES = 64 * 2**20  # a dropped file larger than this is refused
UPDATES_PER_SECOND = 20  # of each kind (docs/editor-protocol.md)


class GraphEditor(anywidget.AnyWidget):
    """The canvas of ``graph`` (see the module docstring). Usually made by ``wb.editor(g)``."""

    _esm = STATIC / "editor.js"
    _css = STATIC / "editor.css"
    snapshot = traitlets.Dict().tag(sync=True, echo_update=False)
    defs = traitlets.Dict().tag(sync=True)
    settings = traitlets.Dict().tag(sync=True)

    def __init__(self, workbench, graph: Graph, height: int = 600, **kwargs: Any):
        defs = node_defs(workbench.registry)
        state = graph.state()
        _place_new(graph, defs, list(state), state)
        # The graph goes with the widget's creation: the canvas builds it before its first
        # view asks (``hello``), whose answer then leaves it out (the same revision).
        self._revision = 0  # graph changes seen (ops); a snapshot carries the one it shows
        super().__init__(
            defs=defs,
            settings={"height": int(height)},
            snapshot={"version": SNAPSHOT_VERSION, "revision": 0, "nodes": _jsonable(state)},
            **kwargs,
        )
        self.workbench = workbench
        self.graph = graph
        self.selection: list[str] = []
        self.on_run: Callable[[dict], None] | None = None  # the Run shortcuts (set by Editor)
        self.on_queue_change: Callable[[], None] | None = None
        self.on_edit: Callable[[dict], None] | None = None  # every applied edit op
        # Wraps the ops of one canvas edit message (set by Editor: one run per message).
        self.edit_message: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
        self._lock = threading.Lock()  # guards _ops and _queue_dirty
        self._ops: list[dict] = []
        self._queue_dirty = True
        self._snapshot_stale = False  # the graph changed since ``snapshot`` was written
        self._errors: dict | None = None
        self._defs_generation = workbench.registry.generation
        self.status = RunStatus(self._runs_this_graph, self._poke_status)
        self.queue_view = QueueView(workbench.queue)
        self._edits = Throttle(self._flush_ops, rate=UPDATES_PER_SECOND)
        self._status = Throttle(self._flush_status, rate=UPDATES_PER_SECOND)
        self._outputs = Throttle(self._flush_outputs, rate=UPDATES_PER_SECOND)
        self._queue = Throttle(self._flush_queue, rate=UPDATES_PER_SECOND)
        # Written once the edits have settled, off the path from an edit to its run: the
        # whole graph as JSON (450 KB for 500 nodes) is only read when the notebook is saved.
        self._snapshots = Throttle(self._save_snapshot, rate=2, settle=True)
        self._unsubscribers = [
            graph.subscribe(self._on_op),
            workbench.queue.subscribe(self._on_event),
        ]
        self.on_msg(self._on_msg)

    # --- the graph -> the canvas ---

    def _snapshot(self) -> dict:
        """The graph now: ``snapshot`` if it is current (it is after a quiet half second)."""
        return _snapshot(self.graph, self._revision) if self._snapshot_stale else self.snapshot

    def _save_snapshot(self) -> None:
        self._snapshot_stale = False  # first: an op applied meanwhile marks it stale again
        self.snapshot = _snapshot(self.graph, self._revision)

    def _on_op(self, op: dict) -> None:
        mine = op.get("origin") is self
        with self._lock:
            self._revision += 1
            if not mine:
                self._ops.append(_jsonable({k: v for k, v in op.items() if k != "origin"}))
        if not mine:
            self._edits.poke()
            if op.get("op") == "add_node" and (op.get("ui") or {}).get("pos") is None:
                _place_new(self.graph, self.defs, [op["id"]])
        self._snapshot_stale = True
        self._snapshots.poke()
        if self.on_edit is not None:
            self.on_edit(op)

    def state_message(self, revision: int | None = None) -> dict:
        """The whole picture for a (new) view; without the graph (``None``) if the view
        has the snapshot of ``revision`` and the graph has not changed since."""
        return {
            "type": "state",
            "protocol": PROTOCOL,
            "graph": None if revision == self._revision else self._snapshot(),
            "status": self.status.snapshot(),
            "errors": self._errors,
        }

    def show_errors(self, message: dict | None) -> None:
        """Mark a validation's (or a run's) errors on the nodes; None clears them (nothing
        is sent when none are shown: a valid edit in Run (On Change) costs no message)."""
        if message is None and self._errors is None:
            return
        self._errors = message
        self.send(message or {"type": "errors", "message": "", "nodes": {}})

    # --- the canvas -> the graph ---

    def _on_msg(self, _widget, content: dict, buffers: list) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        try:
            if kind == "hello":
                self._hello(content)
            elif kind == "edit":
                self._edit(content)
            elif kind == "selection":
                self.selection = [str(n) for n in content.get("nodes", [])]
            elif kind == "run" and self.on_run is not None:
                self.on_run(content)
            elif kind == "interrupt":
                self.workbench.queue.auto.stop()
                self.workbench.queue.interrupt()
            elif kind == "clear":
                self.workbench.queue.clear()
            elif kind == "cancel":
                self.workbench.queue.cancel(str(content.get("job")))
            elif kind == "drop":
                self._drop(str(content.get("name") or "dropped file"), buffers)
            else:
                log.warning("editor: unknown message %r", kind)
        except Exception as exc:  # never a traceback in the kernel for a canvas message
            log.exception("editor message %r failed", kind)
            self.show_errors(
                {"type": "errors", "message": f"{type(exc).__name__}: {exc}", "nodes": {}}
            )

    def _hello(self, content: dict) -> None:
        if content.get("protocol") != PROTOCOL:
            self.send(
                {
                    "type": "errors",
                    "message": f"The editor's JavaScript speaks protocol {content.get('protocol')}"
                    f", the kernel {PROTOCOL}: restart the kernel and reload the page.",
                    "nodes": {},
                }
            )
            return
        if self.workbench.registry.generation != self._defs_generation:
            self._defs_generation = self.workbench.registry.generation
            self.defs = node_defs(self.workbench.registry)
        self._edits.flush_now()  # ops queued before the state must not arrive after it
        revision = content.get("revision")
        self.send(self.state_message(revision if isinstance(revision, int) else None))
        self.send(self.queue_view.full())
        history = self.queue_view.history(self.graph.seed_control, full=True)
        if history is not None:
            self.send(history)

    def _edit(self, content: dict) -> None:
        with self.edit_message():
            self._apply_ops(content)

    def _apply_ops(self, content: dict) -> None:
        for op in content.get("ops") or []:
            try:
                if op.get("op") == "add_node" and op.get("class_type") not in self.defs:
                    raise TypeError(f"no node type {op.get('class_type')!r}")
                self.graph.apply(op, origin=self)
            except Exception as exc:
                self.send(
                    {
                        "type": "rejected",
                        "seq": content.get("seq"),
                        "message": str(exc),
                        "node": op.get("id"),
                    }
                )
                self._edits.flush_now()
                self.send(self.state_message())
                return

    def _drop(self, name: str, buffers: list) -> None:
        """A workflow JSON or a ComfyUI PNG dropped on the canvas: opened with ``wb.open``
        into this editor's graph (its nodes replace the graph's; ``g`` in code sees them)."""
        data = bytes(buffers[0]) if buffers else b""
        if not data or len(data) > MAX_DROP_BYTES:
            self.show_errors(
                {
                    "type": "errors",
                    "message": f"Cannot open {name}: empty, or over {MAX_DROP_BYTES >> 20} MB.",
                    "nodes": {},
                }
            )
            return
        # Bytes, never text: a dropped file's content is read as a document, not a path.
        opened, report = self.workbench.open(data, name=name)
        if not len(opened) and not report.ok:  # nothing in it we could read: the graph stays
            self.show_errors(
                {"type": "errors", "message": f"Cannot open {name}: {report!r}", "nodes": {}}
            )
            return
        self.replace_with(opened)
        self.show_errors(
            None
            if report.ok
            else {"type": "errors", "message": f"Opened {name}. {report!r}", "nodes": {}}
        )

    def replace_with(self, other: Graph) -> None:
        """Make this editor's graph hold ``other``'s nodes (ids, values, UI data, seed
        policies), as edit ops: the canvas and code both see them. The workflow it was
        opened from comes along, so saving writes back what the file held."""
        for node_id in list(self.graph):
            self.graph.remove(node_id)
        for node_id, state in other.state().items():
            self.graph.apply({"op": "add_node", "id": node_id, **state})
        self.graph.document = other.document
        self.graph.opened_from = other.opened_from

    # --- engine events -> the canvas ---

    def _runs_this_graph(self, prompt_id: str) -> bool:
        """Whether the job starting now runs this graph: its nodes are this graph's
        (same ids, same types). A run of another graph leaves our marks alone."""
        job = self.workbench.queue.running()
        if job is None or job.id != prompt_id:
            return False
        prompt = job.prompt
        shared = [n for n in prompt if n in self.graph]
        if not shared:
            return False
        state = self.graph.state()
        return all(state[n]["class_type"] == prompt[n].get("class_type") for n in shared)

    def _on_event(self, event) -> None:
        if event.type == "status":
            with self._lock:
                self._queue_dirty = True
            self._queue.poke()
        else:
            self.status.on_event(event)

    def _poke_status(self) -> None:
        self._status.poke()
        if self.status.outputs:  # read without its lock: a stale answer only pokes again
            self._outputs.poke()

    def _flush_ops(self) -> None:
        """The graph's edit ops made since the last flush (none of this canvas's own)."""
        with self._lock:
            ops, self._ops = self._ops, []
        if ops:
            self.send({"type": "ops", "ops": ops})

    def _flush_status(self) -> None:
        """Run status, progress previews and a run's errors."""
        message, previews = self.status.take()
        if message is not None:
            self.send(message)
        for node_id, value in previews.items():
            picture = to_pil(value)
            if picture is not None:
                self._send_images(node_id, "progress", [encode(picture)])
        if self.status.errors is not None and message is not None:
            self._errors = {"type": "errors", **self.status.errors}
            self.send(self._errors)

    def _flush_outputs(self) -> None:
        """The previews and texts of the nodes that executed since the last flush."""
        for node_id, ui in self.status.take_outputs().items():
            images = output_images(ui)
            if images:
                self._send_images(node_id, "output", images)
            if ui.get("text"):
                self.send({"type": "text", "node": node_id, "text": [str(t) for t in ui["text"]]})

    def _flush_queue(self) -> None:
        """The queue's delta and the new history entries."""
        with self._lock:
            queue_dirty, self._queue_dirty = self._queue_dirty, False
        if not queue_dirty:
            return
        delta = self.queue_view.delta()
        if delta is not None:
            self.send(delta)
        history = self.queue_view.history(self.graph.seed_control)
        if history is not None:
            self.send(history)
        if self.on_queue_change is not None:
            self.on_queue_change()

    def flush_now(self) -> None:
        """Send everything the throttles hold, now, in this thread (for tests and tools)."""
        for throttle in (self._edits, self._status, self._outputs, self._queue):
            throttle.flush_now()

    def _send_images(self, node_id: str, kind: str, images: list[bytes]) -> None:
        self.send(
            {
                "type": "preview",
                "node": node_id,
                "kind": kind,
                "mime": "image/png",
                "count": len(images),
            },
            buffers=images,
        )

    def close(self) -> None:
        for unsubscribe in self._unsubscribers:
            unsubscribe()
        self._unsubscribers = []
        for throttle in (self._edits, self._status, self._outputs, self._queue, self._snapshots):
            throttle.close()
        super().close()


def _snapshot(graph: Graph, revision: int) -> dict:
    """The ``snapshot`` trait's value: the whole graph, JSON-ready, at ``revision``."""
    return {"version": SNAPSHOT_VERSION, "revision": revision, "nodes": _jsonable(graph.state())}


def _place_new(graph: Graph, defs: dict, node_ids: list[str], state: dict | None = None) -> None:
    """Give positions to the nodes of ``node_ids`` that have none (added in code); ``state``
    (``graph.state()``, if the caller has it) gets them too."""
    state = graph.state() if state is None else state
    if not any(state[n]["ui"].get("pos") is None for n in node_ids if n in state):
        return
    for node_id, pos in place(state, defs).items():
        if node_id in node_ids:
            graph.set_ui(node_id, pos=pos)
            state[node_id]["ui"]["pos"] = list(pos)


def _jsonable(value: Any, depth: int = 0) -> Any:
    """``value`` with anything JSON cannot hold (a tensor constant, NaN) as a short stand-in."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"stand_in": True, "repr": repr(value)}
    if depth > 20:
        return {"stand_in": True, "repr": "…"}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v, depth + 1) for k, v in value.items()}
    text = repr(value)
    return {"stand_in": True, "repr": text if len(text) <= 80 else text[:77] + "..."}


__all__ = ["GraphEditor"]
