"""Live progress of a run, then its final state: in a notebook, or as text lines on stderr.

A ``ProgressDisplay`` follows the jobs of one ``wb.run`` (or one background
``Job``): subscribed to their events at submit, it shows each job queued (and,
while the worker is still inside a node of a run given up on, which node it
waits for), then the running node and its progress. When a job ends its line
becomes the job's ``RunResult.summary``, so the display ends on what the result
says (never on counts of its own). Once every job has ended the display is
final: it stops listening and later events change nothing.

In a notebook the live view is one ``ipywidgets.HTML``, displayed as a mime
bundle that also holds ``text/html`` and ``text/plain`` of the same state; the
final state replaces that bundle (``update_display`` by display id) with
static ``text/html`` and ``text/plain`` only, and the widget is closed. So a
saved notebook, nbconvert or GitHub shows the final state, never "model not
found" or the widget's repr. Events arrive on the queue's worker thread;
widget and display updates from it are sent by the kernel's IOPub thread.
Outside a notebook the display writes to stderr: a ``\\r`` progress bar, then
one line per job.
"""

from __future__ import annotations

import html
import sys
import threading
import uuid
from collections.abc import Callable

from engine import Event, Job, PromptQueue

from .results import STOPPING_NOTE, RunResult, summary_html

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

TEXT_BAR = 24  # characters of the bar outside Jupyter


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (where rich displays reach a frontend)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class ProgressDisplay:
    """See the module docstring. ``on_event`` is the jobs' subscriber; ``watch(jobs, result_of)``
    follows them to their results; ``show()`` displays it (any number of times)."""

    def __init__(
        self,
        queue: PromptQueue,
        prompt: dict,
        *,
        results: bool = False,
        notebook: bool | None = None,
    ):
        self._queue = queue
        self._types = {n: node.get("class_type", "?") for n, node in prompt.items()}
        self._results = results  # the final state shows the run's RunResult (a background job)
        self._notebook = in_notebook() if notebook is None else notebook
        self._lock = threading.RLock()  # guards the state below and orders the renders
        self._jobs: list[Job] = []
        self._final: dict[str, RunResult] = {}  # job id -> its result
        self._started: set[str] = set()  # ids of the jobs whose run started
        self._node: str | None = None  # the running node (of the job that runs)
        self._value: tuple[float, float | None] | None = None  # its progress
        self._closed = False
        self._shown = False  # displayed at least once (text mode: writes to stderr)
        self._widget = None
        self._display_id = f"workbench-progress-{uuid.uuid4().hex}"
        self._unsubscribe: Callable[[], None] | None = queue.subscribe(self._on_queue_event)
        self._wrote_waiting = False
        self._discarded: str | None = None  # why nothing was queued (discard)

    # --- following the jobs ---

    def watch(self, jobs: list[Job], result_of: Callable[[Job], RunResult]) -> None:
        """Follow ``jobs`` (submitted with ``on_event``): each one's line becomes its
        result's summary as it ends; the display is final once all have."""
        with self._lock:
            self._jobs = list(jobs)
            self._render()
        for job in jobs:
            job.add_done_callback(lambda done: self.finished(result_of(done)))

    def on_event(self, event: Event) -> None:
        with self._lock:
            if self._closed:
                return
            data = event.data
            if event.type == "execution_start":
                self._started.add(event.prompt_id)
                self._node, self._value = None, None
            elif event.type in ("execution_error", "execution_interrupted"):
                self._node, self._value = None, None  # not completed: the line says why
            elif event.type == "executing":
                if self._node is not None and self._text_mode():  # the last node completed
                    self._value = (1, 1)
                    sys.stderr.write(f"\r{self._bar_text()}   ")
                self._node, self._value = data.get("node"), None
            elif event.type == "progress" and data.get("node") is not None:
                self._node = data["node"]
                self._value = (data.get("value", 0), data.get("max"))
            else:
                return
            self._render()

    def _on_queue_event(self, event: Event) -> None:
        if event.type == "status":  # a run given up on started or stopped holding the worker
            with self._lock:
                if not self._closed:
                    self._render()

    def finished(self, result: RunResult) -> None:
        """``result`` is a watched job's final result (called once or more per job)."""
        with self._lock:
            if self._closed or result.job.id in self._final:
                return
            self._final[result.job.id] = result
            if result.job.id in self._started:
                self._node, self._value = None, None
            if self._text_mode():
                sys.stderr.write(f"\r{self._line(result.job)}\n")
                sys.stderr.flush()
            if self._jobs and all(job.id in self._final for job in self._jobs):
                self._close()
            else:
                self._render()

    def discard(self, reason: str) -> None:
        """Nothing was queued after all (submit refused the run): say why, and end."""
        with self._lock:
            self._jobs = []
            self._discarded = reason
            self._close()

    def _close(self) -> None:
        """The final state: static in every view; listen no more. Call with the lock held."""
        self._closed = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._notebook and self._shown:
            from IPython.display import update_display

            update_display(self.bundle(), raw=True, display_id=self._display_id)
        if self._widget is not None:
            self._widget.close()
            self._widget = None

    # --- showing ---

    def show(self) -> None:
        """Display the progress here (a notebook cell: the live view; else stderr)."""
        with self._lock:
            self._shown = True
            if not self._notebook:
                self._render()
                return
            from IPython.display import display

            if not self._closed and self._widget is None:
                import ipywidgets

                self._widget = ipywidgets.HTML(self._html())
            display(self.bundle(), raw=True, display_id=self._display_id)

    def _ipython_display_(self) -> None:
        self.show()

    def bundle(self) -> dict:
        """The mime bundle of the current state: ``text/plain`` and ``text/html``, and the live
        widget's view while the run goes on (in a notebook, once shown)."""
        with self._lock:
            bundle = {"text/plain": self.text(), "text/html": self._html()}
            if self._widget is not None and not self._closed:
                bundle[WIDGET_VIEW] = {
                    "model_id": self._widget.model_id,
                    "version_major": 2,
                    "version_minor": 0,
                }
            return bundle

    def _text_mode(self) -> bool:
        return self._shown and not self._notebook

    def _render(self) -> None:
        """Show the current state in the live view. Call with the lock held."""
        if self._widget is not None:
            self._widget.value = self._html()
        elif self._text_mode():
            waiting = self._waiting()
            if waiting and not self._wrote_waiting:
                self._wrote_waiting = True
                sys.stderr.write(f"\r{waiting}\n")
            elif self._node is not None:
                sys.stderr.write(f"\r{self._bar_text()}   ")
            sys.stderr.flush()

    # --- the state, as text and HTML ---

    def text(self) -> str:
        """The current state, one line per job (and the line of what it waits for)."""
        with self._lock:
            lines = [self._line(job) for job in self._jobs] or [self._discarded or "queued…"]
            waiting = self._waiting()
            return "\n".join([waiting, *lines] if waiting else lines)

    def _html(self) -> str:
        parts = []
        waiting = self._waiting()
        if waiting:
            parts.append(f"<div style='color:#ef6c00'>{html.escape(waiting)}</div>")
        if not self._jobs:
            parts.append(f"<div>{html.escape(self._discarded or 'queued…')}</div>")
        for job in self._jobs:
            result = self._final.get(job.id)
            if result is not None:
                parts.append(summary_html(self._line(job)))
                if self._results and len(self._jobs) == 1:
                    parts.append(result.body_html())
            elif job.id in self._started:
                parts.append(
                    f"<div>{html.escape(self._prefix(job))}running{self._bar_html()}</div>"
                )
            else:
                parts.append(f"<div>{html.escape(self._prefix(job))}queued…</div>")
        return "<div class='workbench-progress'>" + "".join(parts) + "</div>"

    def _line(self, job: Job) -> str:
        result = self._final.get(job.id)
        if result is not None:
            return self._prefix(job) + result.summary
        if job.id in self._started:
            return f"{self._prefix(job)}running{': ' + self._bar_text() if self._node else ''}"
        return f"{self._prefix(job)}queued…"

    def _prefix(self, job: Job) -> str:
        return f"#{job.number} " if len(self._jobs) > 1 else ""

    def _waiting(self) -> str | None:
        """What a queued job waits for: the node of a run given up on that still runs."""
        stopping = self._queue.stopping()
        if stopping is None or (
            self._jobs and all(j.id in self._started or j.id in self._final for j in self._jobs)
        ):
            return None
        job, node = stopping
        return (
            f"waiting for {self._label(node, job.prompt)} of the interrupted run #{job.number}: "
            f"{STOPPING_NOTE}; this run starts then"
        )

    def _label(self, node_id: str, prompt: dict | None = None) -> str:
        kind = (prompt or {}).get(node_id, {}).get("class_type") or self._types.get(node_id, "?")
        return f"{node_id} ({kind})"

    def _bar_text(self) -> str:
        if self._node is None:
            return ""
        if self._value is not None and self._value[1]:
            value, total = self._value
            done = min(max(value / total, 0.0), 1.0)
            filled = round(done * TEXT_BAR)
            bar = "#" * filled + "." * (TEXT_BAR - filled)
            return f"{self._label(self._node)} [{bar}] {100 * done:5.1f}%"
        return f"{self._label(self._node)} …" + " " * (TEXT_BAR + 10)

    def _bar_html(self) -> str:
        if self._node is None:
            return "…"
        label = html.escape(self._label(self._node))
        if self._value is not None and self._value[1]:
            value, total = self._value
            share = min(max(value / total, 0.0), 1.0)
            return (
                f": {label} <progress value='{share:.3f}' max='1' style='width:240px'></progress>"
                f" {100 * share:.0f}%"
            )
        return f": {label} …"
