"""The kernel-resident session: one ``Workbench`` per kernel, alive across cells.

It owns a node registry with every built-in node, an executor with its caches
(memory, then a disk cache in the data directory that survives kernel
restarts), the prompt queue and its history, and the input/output/temp
folders. ``wb.run`` blocks with a live progress display; Jupyter's interrupt
button (SIGINT, a ``KeyboardInterrupt`` in the waiting cell) interrupts the
run, which then returns an ``interrupted`` result: the kernel lives on.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import nodes
from engine import Executor, NodeRegistry, PromptQueue
from engine import node as node_decorator
from engine.explain import explain as explain_trace
from nodes import folders

from .graph import Graph, Node, Output, node_id_of
from .progress_display import ProgressDisplay
from .results import RunResult

INTERRUPT_WAIT = 10.0  # seconds to wait for an interrupted run to stop before returning


class Workbench:
    """See the module docstring. ``Workbench.current()`` is the kernel's one session."""

    _current: Workbench | None = None
    _current_lock = threading.Lock()

    def __init__(
        self,
        cache: str = "classic",
        data_dir: str | os.PathLike | None = None,
        *,
        persist: bool = True,
        allow_pickle: bool = False,
        disk_budget: int = 10 * 2**30,
        lru_size: int = 100,
    ):
        """``data_dir``: default ``$WORKBENCH_DATA_DIR`` or ``.workbench`` in the current
        directory (beside the notebook). ``persist=False`` keeps no disk cache.
        ``allow_pickle`` lets the disk cache store values of other types by pickle
        (only ever read back by this trusted session)."""
        base = (
            data_dir if data_dir is not None else os.environ.get("WORKBENCH_DATA_DIR", ".workbench")
        )
        self.data_dir = Path(base).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        folders.configure(base_dir=self.data_dir)
        self.registry = NodeRegistry()
        nodes.register_all(self.registry)
        self.store = None
        if persist:
            from .disk_cache import DiskCache

            self.store = DiskCache(
                self.data_dir / "cache", budget_bytes=disk_budget, allow_pickle=allow_pickle
            )
        self.executor = Executor(self.registry, cache=cache, lru_size=lru_size, store=self.store)
        self.queue = PromptQueue(self.executor, data_dir=str(self.data_dir))
        self._results: list[RunResult] = []  # the latest runs, newest last (for value/explain)
        with Workbench._current_lock:
            if Workbench._current is None:
                Workbench._current = self

    @classmethod
    def current(cls) -> Workbench:
        """The kernel's session, created on first use."""
        with cls._current_lock:
            existing = cls._current
        return existing if existing is not None else cls()

    def make_current(self) -> Workbench:
        with Workbench._current_lock:
            Workbench._current = self
        return self

    # --- nodes and graphs ---

    def node(self, obj: Any = None, **options: Any):
        """Register a ``@node``-style function or a ComfyUI class; a decorator.

        Re-running the cell that defines it replaces the node type: the next run
        reruns the nodes of that type and what depends on them, nothing else.
        """
        if obj is None:
            return lambda o: self.node(o, **options)
        name = options.pop("name", None)
        if isinstance(obj, type):
            self.registry.register(obj, name=name, display_name=options.get("display_name"))
        else:
            if options or name or not hasattr(obj, "__node_class__"):
                node_decorator(obj, name=name, **options)
            self.registry.register(obj)
        return obj

    def graph(self) -> Graph:
        """A new, empty code-first graph over this session's node types."""
        return Graph(self.registry)

    # --- running ---

    def run(
        self,
        graph: Graph | dict,
        outputs: list | None = None,
        number: int = 1,
        wait: bool = True,
        progress: bool = True,
    ):
        """Run ``graph`` (a ``Graph`` or an API prompt); see the module docstring.

        ``outputs``: partial execution, handles or node ids (only what they need
        runs). ``number``: the batch count. ``wait=False`` returns the ``Job``
        (a list of jobs if ``number > 1``) at once.
        """
        prompt = graph.to_prompt() if isinstance(graph, Graph) else graph
        targets = None if outputs is None else [node_id_of(o) for o in _as_list(outputs)]
        display = ProgressDisplay(prompt) if progress and wait else None
        jobs = self.queue.submit(
            prompt, outputs=targets, number=number, on_event=display.on_event if display else None
        )
        if not wait:
            return jobs[0] if number == 1 else jobs
        try:
            results = [self._wait(job, jobs) for job in jobs]
        finally:
            if display is not None:
                display.close()
        results = [RunResult(self, job, result, graph) for job, result in results]
        self._results = (self._results + results)[-20:]
        return results[0] if number == 1 else results

    def _wait(self, job, jobs):
        """Wait for ``job``; on KeyboardInterrupt stop this batch and report it interrupted."""
        try:
            return job, job.result()
        except KeyboardInterrupt:
            for other in jobs:
                self.queue.cancel(other)
            try:
                return job, job.result(timeout=INTERRUPT_WAIT)
            except Exception:
                return job, None
        except Exception:  # cancelled
            return job, None

    # --- looking at results ---

    def value(self, handle: Output | Node | str):
        """The Python value of a node's output, from the cache (of the latest run that had it)."""
        for result in reversed(self._results):
            if result.has(handle):
                return result[handle]
        raise KeyError(f"no run has computed {node_id_of(handle)!r} yet")

    def explain(self, handle: Output | Node | str) -> str:
        """Why the node ran or was cached in its latest run, in one paragraph."""
        node_id = node_id_of(handle)
        traces = [
            r.trace for r in self._results if r.trace is not None and node_id in r.trace.links
        ]
        if not traces:
            return f"{node_id} has not been part of a run yet."
        return explain_trace(node_id, traces[-1], traces[-2] if len(traces) > 1 else None)

    def close(self) -> None:
        """Stop the queue's worker (pending runs are cancelled)."""
        self.queue.shutdown(wait=True, cancel_pending=True)
        with Workbench._current_lock:
            if Workbench._current is self:
                Workbench._current = None


def _as_list(outputs) -> list:
    if isinstance(outputs, (str, Output, Node)):
        return [outputs]
    return list(outputs)
