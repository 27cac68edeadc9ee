"""Live run status of one graph's nodes, from engine events only.

``RunStatus.on_event`` is called on the queue's worker thread for every event;
it only records (under a lock) and asks for a flush. ``take()`` and
``take_outputs()`` hand the changes since the last call to the sender, each at
most ~20 times a second.

State: ``nodes`` (node id -> its status now: the last run's marks until a new run
of this graph starts), ``dirty`` (ids changed since the last ``take``),
``previews`` (node id -> the newest progress preview value, not yet sent),
``outputs`` (node id -> the ui dict of an ``executed`` event, not yet sent),
``job`` (the run being followed), ``stopped`` (jobs that ended: their late
progress is dropped, so an interrupted run leaves no stale bar).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from engine import Event

PREVIEW_INTERVAL_MS = 200  # progress previews of a node: at most every 0.2 s


class RunStatus:
    def __init__(self, belongs: Callable[[str], bool], poke: Callable[[], None]):
        """``belongs(prompt_id)``: whether a starting job runs this graph; ``poke()``: ask
        for a flush."""
        self._belongs = belongs
        self._poke = poke
        self._lock = threading.Lock()
        self.nodes: dict[str, dict] = {}
        self.dirty: set[str] = set()
        self.reset = False
        self.previews: dict[str, object] = {}
        self.outputs: dict[str, dict] = {}
        self.job: str | None = None
        self.running: str | None = None
        self.errors: dict | None = None  # a run's error, for the errors panel
        self._started: dict[str, int] = {}  # node id -> executing timestamp (ms)
        self._preview_at: dict[str, int] = {}
        self.stopped: set[str] = set()

    def on_event(self, event: Event) -> None:
        data = event.data
        kind = event.type
        if kind == "status":
            return
        prompt_id = event.prompt_id
        with self._lock:
            if kind == "execution_start":
                if not self._belongs(prompt_id):
                    self.job = None
                    return
                self.job, self.running = prompt_id, None
                self.nodes, self.dirty, self.reset = {}, set(), True
                self.previews, self._started, self.errors = {}, {}, None
            elif prompt_id is None or prompt_id != self.job or prompt_id in self.stopped:
                return
            elif kind == "execution_cached":
                for node_id in data.get("nodes", []):
                    self._set(node_id, {"state": "cached"})
            elif kind == "executing":
                self._finish_running(event)
                node_id = data.get("display_node") or data.get("node")
                if node_id is not None:
                    self.running = node_id
                    self._started[node_id] = data["timestamp"]
                    self._set(node_id, {"state": "running"})
            elif kind == "progress":
                node_id = data.get("display_node") or data.get("node")
                total = data.get("max") or 0
                value = data.get("value") or 0
                entry = dict(self.nodes.get(node_id) or {"state": "running"})
                entry["progress"] = max(0.0, min(1.0, value / total)) if total else 0.0
                self._set(node_id, entry)
                preview = data.get("preview")
                last = self._preview_at.get(node_id, 0)
                if preview is not None and data["timestamp"] - last >= PREVIEW_INTERVAL_MS:
                    self._preview_at[node_id] = data["timestamp"]
                    self.previews[node_id] = preview
            elif kind == "executed":
                node_id = data.get("display_node") or data.get("node")
                self.outputs[node_id] = data.get("output") or {}
            elif kind == "execution_error":
                self._finish_running(event, ok=False)
                node_id = data.get("node_id")
                message = (
                    f"{data.get('exception_type', 'Error')}: {data.get('exception_message', '')}"
                )
                if node_id is not None:
                    self._set(node_id, {"state": "error", "message": message})
                self.errors = {"message": message, "nodes": {node_id: {"message": message}}}
                self._end(prompt_id)
            elif kind == "execution_interrupted":
                self._finish_running(event, ok=False)
                self.previews.clear()
                for node_id, entry in list(self.nodes.items()):
                    if "progress" in entry:
                        self._set(node_id, {k: v for k, v in entry.items() if k != "progress"})
                self._end(prompt_id)
            elif kind == "execution_success":
                self._finish_running(event)
                self._end(prompt_id)
            else:
                return
        self._poke()

    def _set(self, node_id: str, entry: dict) -> None:
        self.nodes[node_id] = entry
        self.dirty.add(node_id)

    def _finish_running(self, event: Event, ok: bool = True) -> None:
        node_id = self.running
        if node_id is None:
            return
        self.running = None
        started = self._started.pop(node_id, None)
        if ok and started is not None:
            self._set(node_id, {"state": "ran", "ms": max(0, event.data["timestamp"] - started)})
        else:
            self._set(node_id, {"state": "idle"})

    def _end(self, prompt_id: str) -> None:
        self.stopped.add(prompt_id)
        if len(self.stopped) > 1000:  # bounded: old ids can no longer send events
            self.stopped = {prompt_id}
        self.running = None

    def take(self) -> tuple[dict | None, dict]:
        """(a ``status`` message or None, progress previews) changed since the last call."""
        with self._lock:
            message = None
            if self.dirty or self.reset:
                message = {
                    "type": "status",
                    "job": self.job,
                    "running": self.running,
                    "reset": self.reset,
                    "nodes": {n: self.nodes[n] for n in self.dirty if n in self.nodes},
                }
            self.dirty, self.reset = set(), False
            previews, self.previews = self.previews, {}
            return message, previews

    def take_outputs(self) -> dict:
        """The ui outputs of the nodes that executed since the last call (node id -> ui)."""
        with self._lock:
            outputs, self.outputs = self.outputs, {}
            return outputs

    def snapshot(self) -> dict:
        """The whole status now (for a new view)."""
        with self._lock:
            return {
                "type": "status",
                "job": self.job,
                "running": self.running,
                "reset": True,
                "nodes": dict(self.nodes),
            }
