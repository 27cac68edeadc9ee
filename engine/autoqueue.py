"""Auto-queue: runs that queue themselves (ComfyUI's Run button modes).

- ``disabled``: nothing is queued by itself.
- ``instant``: whenever the queue empties, the graph is queued again. It stops
  by itself when a run of it executes nothing (everything came from the cache:
  the result would be the same again), or when a run fails, is interrupted or
  cancelled. A node that must run every time (``IS_CHANGED`` returning NaN, the
  ComfyUI way to mark a node not idempotent) makes every run execute something,
  so the loop goes on until ``clear()`` or ``disabled``. ComfyUI's
  ``NOT_IDEMPOTENT`` flag alone does not keep it going: it only keeps that
  node's cache entry per node id, so a rerun is still fully cached.
- ``change``: each ``changed()`` call (the graph or a parameter changed) queues
  one run; a burst of changes within ``debounce`` seconds (default 0.1) of each
  other is coalesced into one run, queued ``debounce`` after the last of them.
  A change-run still pending when the next one is queued is withdrawn: at most
  one run of the latest graph waits behind the running one.

The graph is a prompt dict or a callable returning one; a callable is called
each time a run is queued, so widget-side policies (a seed's
control-after-generate) resolve there, before the run is submitted.

``clear()`` on the queue stops both modes (the mode becomes ``disabled``), as
does setting the mode back to ``disabled``.

Locking: ``_lock`` guards the mode, the graph and the debounce timer. It may
be held while calling into the queue (which takes the queue's lock), never the
other way round: the queue calls ``stop``/``job_cancelled``/``after_run``
without holding its own lock. Events are never sent with ``_lock`` held (a
subscriber may call back in from another thread); the graph callable runs
with it held, so it should only build and return a prompt.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    from .executor import ExecutionResult
    from .queue import Job, PromptQueue

log = logging.getLogger(__name__)

Mode = Literal["disabled", "instant", "change"]
MODES: tuple[str, ...] = get_args(Mode)
DEFAULT_DEBOUNCE = 0.1  # seconds


class AutoQueue:
    """The auto-queue policy of one ``PromptQueue`` (see the module docstring)."""

    def __init__(self, queue: PromptQueue, debounce: float = DEFAULT_DEBOUNCE):
        self._queue = queue
        self._lock = threading.RLock()  # re-entrant: a graph callable may call back in
        self._mode: str = "disabled"
        self._graph: dict | Callable[[], dict] | None = None
        self._targets: list[str] | None = None
        self.debounce = debounce
        self._timer: threading.Timer | None = None
        self._waiting: Job | None = None  # the last change-run queued (it may have started since)
        self._generation = (
            0  # bumped by every change of mode and every changed(): stale timers no-op
        )
        # True from a changed() call until its run is queued: the queue is not idle meanwhile.
        self.debouncing = False

    @property
    def mode(self) -> str:
        return self._mode

    def set(
        self,
        mode: Mode,
        graph: dict | Callable[[], dict] | None = None,
        outputs: list[str] | None = None,
        *,
        debounce: float | None = None,
    ) -> Job | None:
        """Switch to ``mode``; returns the run queued at once (``instant`` on an idle queue)."""
        if mode not in MODES:
            raise ValueError(f"auto-queue mode must be one of {', '.join(MODES)}, not {mode!r}")
        if debounce is not None and debounce < 0:
            raise ValueError(f"debounce must be >= 0 seconds, not {debounce}")
        job = None
        with self._lock:
            if mode != "disabled" and graph is None and self._graph is None:
                raise ValueError(f"auto-queue mode {mode!r} needs a graph (a prompt or a callable)")
            self._cancel_timer()
            self._mode = mode
            if graph is not None:
                self._graph, self._targets = graph, outputs
            if debounce is not None:
                self.debounce = debounce
            if mode == "instant" and self._queue._idle():
                job = self._queue_run()
        if job is not None:
            self._queue._emit_status()
        return job

    def stop(self) -> None:
        """Back to ``disabled``: nothing more is queued by itself."""
        with self._lock:
            self._cancel_timer()
            self._mode = "disabled"

    def changed(
        self, graph: dict | Callable[[], dict] | None = None, *, debounce: float | None = None
    ) -> bool:
        """Note a change (``change`` mode): a run is queued ``debounce`` s after the last one.

        ``graph`` replaces the graph to run; ``debounce`` replaces the mode's for this
        change (0: the run is queued now, in this thread, when the caller knows the change
        is complete). Returns False (and queues nothing) in the other modes.
        """
        if debounce is not None and debounce < 0:
            raise ValueError(f"debounce must be >= 0 seconds, not {debounce}")
        with self._lock:
            if graph is not None:
                self._graph = graph
            if self._mode != "change":
                return False
            self._cancel_timer()
            generation = self._generation
            self.debouncing = True
            delay = self.debounce if debounce is None else debounce
            if delay > 0:
                self._timer = threading.Timer(delay, self._fire, (generation,))
                self._timer.daemon = True
                self._timer.start()
                return True
        self._fire(generation)
        return True

    # --- called by the queue ---

    def after_run(self, job: Job, result: ExecutionResult) -> None:
        """A run finished (called by the worker before the job counts as done)."""
        queued = None
        with self._lock:
            if self._mode != "instant":
                return
            if job.auto and (result.status != "success" or not result.executed):
                self._mode = "disabled"
                return
            if self._queue._pending_count() == 0:
                queued = self._queue_run()
        if queued is not None:
            self._queue._emit_status()

    def job_cancelled(self, job: Job) -> None:
        """A job was cancelled: if it was a run of the instant loop, the loop stops."""
        with self._lock:
            if job.auto and self._mode == "instant":
                self._mode = "disabled"

    # --- internals (called with the lock held) ---

    def _fire(self, generation: int) -> None:
        queued = None
        try:
            with self._lock:
                if generation != self._generation or self._mode != "change":
                    return
                self._timer = None
                # A change-run still waiting in the queue is outdated: this one replaces
                # it, so edits during a slow run never pile up runs of old graphs.
                if self._waiting is not None:
                    self._queue._withdraw(self._waiting)
                queued = self._waiting = self._queue_run()
        finally:
            with self._lock:
                if generation == self._generation:
                    self.debouncing = False
            self._queue._notify()
        if queued is not None:
            self._queue._emit_status()

    def _queue_run(self) -> Job | None:
        graph = self._graph
        try:
            prompt = graph() if callable(graph) else graph
            return self._queue._submit_auto(prompt, self._targets)
        except Exception:
            # A broken graph callable must not kill the worker or a timer thread:
            # report it and stop, as a failing run would.
            log.exception("auto-queue could not queue the graph; auto-queue disabled")
            self._mode = "disabled"
            return None

    def _cancel_timer(self) -> None:
        self._generation += 1
        self.debouncing = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._queue._notify()  # join() waits for debouncing to end
