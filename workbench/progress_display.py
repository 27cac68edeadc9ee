"""Live progress of a run: a bar per running node (ipywidgets), or a text line outside Jupyter.

Fed by the job's events from the queue's worker thread; updating ipywidgets
from a background thread is fine (their messages are sent by the kernel).
"""

from __future__ import annotations

import sys
import threading
import time

from engine import Event

TEXT_BAR = 24  # characters of the bar outside Jupyter


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class ProgressDisplay:
    """Shows which node runs and how far it got; ``close()`` leaves a final summary."""

    def __init__(self, prompt: dict):
        self._types = {n: node.get("class_type", "?") for n, node in prompt.items()}
        self._lock = threading.Lock()
        self._ran = 0
        self._cached = 0
        self._current: str | None = None
        self._started = time.monotonic()
        self._widgets = None
        self._bars: dict = {}
        if _in_notebook():
            try:
                import ipywidgets as widgets
                from IPython.display import display
            except ImportError:
                pass
            else:
                self._widgets = widgets
                self._status = widgets.HTML("queued…")
                self._box = widgets.VBox([self._status])
                display(self._box)

    def on_event(self, event: Event) -> None:
        with self._lock:
            data = event.data
            if event.type == "execution_start":
                self._started = time.monotonic()
                self._say("running…")
            elif event.type == "execution_cached":
                self._cached = len(data.get("nodes", []))
            elif event.type == "executing" and data.get("node") is not None:
                self._finish_current()
                self._current = data["node"]
                self._bar(self._current, 0, None)
            elif event.type == "progress":
                self._bar(data.get("node"), data.get("value", 0), data.get("max"))
            elif event.type in ("execution_success", "execution_error", "execution_interrupted"):
                self._finish_current()
                word = {
                    "execution_success": "done",
                    "execution_error": "failed",
                    "execution_interrupted": "interrupted",
                }[event.type]
                self._say(
                    f"{word}: {self._ran} ran, {self._cached} cached, "
                    f"{time.monotonic() - self._started:.2f} s"
                )

    def _label(self, node_id: str) -> str:
        return f"{node_id} ({self._types.get(node_id, '?')})"

    def _finish_current(self) -> None:
        if self._current is not None:
            self._ran += 1
            self._bar(self._current, 1, 1)
            if self._widgets is not None:  # finished nodes leave: the box shows what runs now
                bar = self._bars.pop(self._current, None)
                if bar is not None:
                    self._box.children = tuple(c for c in self._box.children if c is not bar)
            self._current = None

    def _bar(self, node_id: str | None, value, total) -> None:
        if node_id is None:
            return
        if self._widgets is None:
            if total:
                done = min(max(value / total, 0.0), 1.0)
                filled = round(done * TEXT_BAR)
                bar = "#" * filled + "." * (TEXT_BAR - filled)
                sys.stderr.write(f"\r{self._label(node_id)} [{bar}] {100 * done:5.1f}%   ")
            else:
                sys.stderr.write(f"\r{self._label(node_id)} …" + " " * (TEXT_BAR + 10))
            sys.stderr.flush()
            return
        bar = self._bars.get(node_id)
        if bar is None:
            w = self._widgets
            progress = w.FloatProgress(value=0.0, min=0.0, max=1.0, layout=w.Layout(width="240px"))
            bar = w.HBox([w.Label(self._label(node_id), layout=w.Layout(width="280px")), progress])
            self._bars[node_id] = bar
            self._box.children = (*self._box.children, bar)
        bar.children[1].value = (value / total) if total else 0.0

    def _say(self, text: str) -> None:
        if self._widgets is None:
            sys.stderr.write(f"\r{text}\n")
            sys.stderr.flush()
        else:
            self._status.value = text

    def close(self) -> None:
        with self._lock:
            self._finish_current()
