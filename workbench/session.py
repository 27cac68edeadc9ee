"""The kernel-resident session: one ``Workbench`` per kernel, alive across cells.

It owns a node registry with every built-in node, an executor with its caches
(memory, then a disk cache in the data directory that survives kernel
restarts), the prompt queue and its history, and the input/output/temp
folders. ``wb.run`` blocks with a live progress display; Jupyter's interrupt
button (SIGINT, a ``KeyboardInterrupt`` in the waiting cell) interrupts the
run, which then returns an ``interrupted`` result: the kernel lives on. A node
stuck in a native call is given up on (``engine.queue``): the run returns
within the queue's ``grace`` plus ``SETTLE`` seconds, marking that node as
stopping, and the next run says that it waits for it.
``wb.run(g, wait=False)`` returns a ``Job`` (``workbench.jobs``);
``wb.interrupt()``, ``wb.cancel(job)`` and ``wb.clear()`` stop the running
run, one run, or every pending one. ``wb.queue`` and ``wb.history`` show what
runs and what ran (``workbench.queue_view``).
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import sys
import threading
import weakref
from pathlib import Path
from typing import Any

import nodes
from engine import Executor, NodeRegistry
from engine import Job as EngineJob
from engine import node as node_decorator
from engine.explain import explain as explain_trace
from engine.history import default_data_dir
from engine.workflow import Report
from nodes import folders

from .graph import Graph, Node, Output, at_user_frame, node_id_of, terminal_nodes
from .jobs import Job, wait_for
from .progress_display import ProgressDisplay
from .queue_view import RunHistory, SessionQueue
from .results import STOPPING_NOTE, RunResult
from .workflows import open_graph, save_graph, workflow_of


class Workbench:
    """See the module docstring. ``Workbench.current()`` is the kernel's one session."""

    _current: Workbench | None = None
    _sessions: dict[Path, Workbench] = {}  # the live session of each data directory
    _current_lock = threading.Lock()
    _creating = threading.Lock()

    def __init__(
        self,
        cache: str = "classic",
        data_dir: str | os.PathLike | None = None,
        *,
        persist: bool = True,
        allow_pickle: bool = False,
        disk_budget: int = 10 * 2**30,
        lru_size: int = 100,
        cluster: Any = None,
    ):
        """``data_dir``: default ``$WORKBENCH_DATA_DIR`` or ``.workbench`` in the current
        directory (beside the notebook). ``persist=False`` keeps no disk cache.
        ``allow_pickle`` lets the disk cache store values of other types by pickle
        (only ever read back by this trusted session). ``cluster``: run nodes on a
        Dask cluster (a ``distributed.Client``, a cluster such as ``LocalCluster``, or
        a scheduler address; see ``engine.backends.dask``); None runs them here."""
        if data_dir is None:
            data_dir = default_data_dir()
        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Re-running the cell that makes a session replaces the session on that
        # directory: two would write one history and one disk cache.
        with Workbench._current_lock:
            previous = Workbench._sessions.get(self.data_dir)
        if previous is not None:
            previous.close()
        # This session's folders, for its runs and its registry's calls only: two
        # sessions in one kernel never read or write each other's (nodes.folders).
        self.folders = folders.Folders(base=str(self.data_dir))
        for kind in ("input", "output"):  # where a user puts files, and looks for them
            Path(self.folders.directory(kind)).mkdir(exist_ok=True)
        # A partial, not a lambda: on a Dask cluster it travels with every task.
        self.registry = NodeRegistry(context=functools.partial(folders.using, self.folders))
        nodes.register_all(self.registry)
        self.store = None
        if persist:
            from .disk_cache import DiskCache

            self.store = DiskCache(
                self.data_dir / "cache", budget_bytes=disk_budget, allow_pickle=allow_pickle
            )
        self.executor = Executor(
            self.registry, cache=cache, lru_size=lru_size, store=self.store, backend=cluster
        )
        self.queue = SessionQueue(self.executor, data_dir=str(self.data_dir))
        self._results: list[RunResult] = []  # the latest runs, newest last (for value/explain)
        self._kept: weakref.WeakSet = weakref.WeakSet()  # jobs ever in _results (50 stay there)
        self._results_lock = threading.Lock()  # guards both
        with Workbench._current_lock:
            if Workbench._current is None or Workbench._current is previous:
                Workbench._current = self
            Workbench._sessions[self.data_dir] = self

    @classmethod
    def current(cls) -> Workbench:
        """The kernel's session, created on first use."""
        with cls._creating:  # two threads asking at once get the same session
            with cls._current_lock:
                existing = cls._current
            return existing if existing is not None else cls()

    @property
    def input_dir(self) -> Path:
        """Where ``LoadImage`` and ``wb.open`` find input files (put your images here)."""
        return Path(self.folders.directory("input"))

    @property
    def output_dir(self) -> Path:
        """Where ``SaveImage`` writes."""
        return Path(self.folders.directory("output"))

    @property
    def models_dir(self) -> Path:
        """Where model loaders look first (then the models shipped with Workbench)."""
        return Path(self.folders.directory("models"))

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

    # --- ComfyUI workflows (docs/workflow-format.md) ---

    def open(self, source: Any, name: str | None = None) -> tuple[Graph, Report]:
        """``graph, report = wb.open(source)``: a ComfyUI workflow (0.4 or 1.0), an API
        prompt, or a PNG holding either; ``source`` a path (or a file name in the input
        folder), a dict, JSON text or PNG bytes.

        Never raises on what the file holds: what cannot be converted or run is in
        ``report`` and the rest runs. A file that cannot be found or read raises
        ``OSError`` naming it. ``name``: what the report calls data given as bytes or a dict.
        """
        with folders.using(self.folders):  # a file name is looked up in this session's folders
            return open_graph(source, self.registry, name)

    def save(self, graph: Graph, path: str | os.PathLike, api: bool | None = None) -> Path:
        """Save ``graph`` by extension: ``.json`` as a UI workflow (``api=True`` or
        ``.api.json``: an API prompt), ``.png`` into that existing image's metadata.
        A relative path is in the output folder; nothing is written outside the
        data folder. Returns the path written."""
        with folders.using(self.folders):
            if not isinstance(graph, Graph):
                graph, _ = open_graph(graph, self.registry)
            return save_graph(graph, path, api=api)

    def load_custom_nodes(self, path: str | os.PathLike):
        """Load a ComfyUI custom node pack (a folder with ``__init__.py``), or every pack in a
        folder of them (ComfyUI's ``custom_nodes``), into this session; V1 and V3 packs.

        Returns a ``LoadReport``: which packs loaded, their node types, and which
        failed and why (one line each, e.g. a module the pack needs that is not
        installed). A failing pack never stops the others, nor the session.
        """
        from .interop import load_custom_nodes  # ComfyUI's names exist only once a pack loads

        return load_custom_nodes(path, self.registry, self.executor)

    def editor(self, graph: Graph | Any = None, height: int = 600):
        """The graph editor and its Run & Stop controls for ``graph``: a canvas view of
        the same graph (see ``workbench.widgets``). ``graph`` may also be what
        ``wb.open`` takes (a workflow, an API prompt or a PNG; its report is printed
        when something in it cannot run), or None for a new graph."""
        from .widgets import Editor

        if graph is None:
            graph = self.graph()
        elif not isinstance(graph, Graph):
            graph, report = self.open(graph)
            if not report.ok:
                print(repr(report), file=sys.stderr)
        return Editor(self, graph, height=height)

    # --- running ---

    @at_user_frame
    def run(
        self,
        graph: Graph | dict | Any,
        outputs: list | None = None,
        number: int = 1,
        wait: bool = True,
        progress: bool = True,
        seed_control: str | dict | None = None,
    ):
        """Run ``graph`` (a ``Graph``, an API prompt, or a function returning either,
        called once per job); see the module docstring.

        ``outputs``: partial execution, handles or node ids (only what they need
        runs). Without ``outputs``, a graph's output nodes run, or, if it has
        none, its terminal nodes (those whose values nothing consumes).
        ``number``: the batch count. ``wait=False`` returns the ``Job`` (a list
        of jobs if ``number > 1``) at once; shown in a cell, a job displays its
        progress; ``job.result()`` waits for its ``RunResult``.
        ``progress``: show the live progress (in a notebook, or on stderr).
        ``seed_control``: the seed policy for this call, ``"fixed"``, ``"increment"``,
        ``"decrement"`` or ``"randomize"`` for every seed of the graph, or a dict
        {node or handle: policy, or {input: policy}}; by default the graph's own
        (``control_after_generate`` when a node was added or set). Each job gets
        its seeds at submit time (``r.seeds``, recorded in the history), and the
        graph keeps the values after the last job for the next run.
        """
        if callable(graph) and not isinstance(graph, Graph):
            made = [graph() for _ in range(number)]
            prompts = [m.to_prompt() if isinstance(m, Graph) else m for m in made]
            first, source = prompts[0], iter(prompts).__next__
            graph = made[0] if isinstance(made[0], Graph) else None
        else:
            first = source = graph.to_prompt() if isinstance(graph, Graph) else graph
        if outputs is not None:
            own = graph if isinstance(graph, Graph) else None  # its handles only
            targets = [node_id_of(o, own) for o in _as_list(outputs)]
        else:
            targets = None if self._has_output_node(first) else terminal_nodes(first) or None
        control = _seed_control(graph, first, seed_control, self.registry)
        if number > 1 and not any(m != "fixed" for c in control.values() for m in c.values()):
            print(
                f"number={number}: no seed of this graph changes between runs, so the "
                f"{number} runs compute the same result (served from the cache after the "
                "first); pass seed_control='randomize' or 'increment' for different samples.",
                file=sys.stderr,
            )
        display = ProgressDisplay(self.queue, first, results=not wait) if progress else None
        if display is not None and wait:
            display.show()  # before submitting: a run that ends at once ends in view
        elif wait and self.queue.stopping() is not None:
            job, node = self.queue.stopping()
            print(
                f"waiting for {node} of the interrupted run #{job.number}: {STOPPING_NOTE}; "
                "this run starts then",
                file=sys.stderr,
            )
        try:
            jobs = self.queue.submit(
                source,
                outputs=targets,
                number=number,
                extra_data=_extra_data(graph),
                on_event=display.on_event if display else None,
                seed_control=control,
            )
        except Exception as exc:
            if display is not None:
                display.discard(f"not queued: {exc}")
            raise
        if isinstance(graph, Graph) and jobs[-1].next_seeds:
            for node_id, values in jobs[-1].next_seeds.items():
                if node_id in graph:
                    graph.node(node_id).set(**values)

        def result_of(job: EngineJob, g=graph) -> RunResult:
            return self._result_of(job, g)

        for job in jobs:  # every run counts for value() and explain(), waited for or not
            job.add_done_callback(result_of)
        if display is not None:
            display.watch(jobs, result_of)
        if not wait:
            handles = [Job(job, result_of, display) for job in jobs]
            return handles[0] if number == 1 else handles
        wait_for(jobs)
        results = [result_of(job) for job in jobs]
        if display is not None:
            for result in results:  # in this cell, whichever thread got there first
                display.finished(result)
        return results[0] if number == 1 else results

    def _has_output_node(self, prompt: dict) -> bool:
        for node in prompt.values():
            node_type = self.registry.get(node.get("class_type"))
            if node_type is not None and node_type.is_output:
                return True
        return False

    # --- stopping ---

    def interrupt(self) -> bool:
        """Interrupt the running run (that one only); False if none is running."""
        return self.queue.interrupt()

    def cancel(self, job: Job | EngineJob | RunResult | str) -> str | None:
        """Remove a pending run (``"cancelled"``) or interrupt the running one
        (``"interrupted"``); None if it had already ended."""
        if isinstance(job, (Job, RunResult)):
            job = job.engine_job if isinstance(job, Job) else job.job
        return self.queue.cancel(job)

    def clear(self) -> int:
        """Remove every pending run (and stop the auto-queue); returns how many were removed."""
        return len(self.queue.clear())

    @property
    def history(self) -> RunHistory:
        """The runs the queue finished, oldest first (records of ``engine.history``)."""
        return RunHistory(self.queue)

    def _result_of(self, job, graph) -> RunResult:
        """The ``RunResult`` of ``job``: once it is done, the one kept for value() and explain().

        Whoever asks first makes and keeps it: ``run``'s caller, woken as the job
        finishes, or the job's done-callback. A result no longer kept (one of
        more than 50 runs since) is not kept again, so it never counts as newer.
        """
        done = job.done()
        try:
            outcome = job.result(timeout=0)
        except (concurrent.futures.CancelledError, concurrent.futures.TimeoutError):
            outcome = None
        with self._results_lock:
            for result in self._results:
                if result.job is job:
                    return result
            result = RunResult(self, job, outcome, graph)
            if done and job not in self._kept:
                self._kept.add(job)
                self._results.append(result)
                del self._results[:-50]
        return result

    # --- looking at results ---

    def _runs_of(self, handle: Output | Node | str) -> list[RunResult]:
        """The finished runs that computed this node, oldest first (its own graph's, for a handle)."""
        node_id = node_id_of(handle)
        graph = handle.graph if isinstance(handle, (Output, Node)) else None
        with self._results_lock:
            results = list(self._results)
        return [
            r
            for r in results
            if r.trace is not None
            and node_id in r.trace.links
            and (graph is None or r.graph is graph)
        ]

    def value(self, handle: Output | Node | str):
        """The Python value of a node's output, from the cache (its graph's latest run)."""
        runs = [r for r in self._runs_of(handle) if r.has(handle)]
        if not runs:
            raise KeyError(f"no run of this graph has computed {node_id_of(handle)!r} yet")
        return runs[-1][handle]

    def explain(self, handle: Output | Node | str) -> str:
        """Why the node ran or was cached in its graph's latest run, in one paragraph."""
        node_id = node_id_of(handle)
        runs = self._runs_of(handle)
        if not runs:
            return f"{node_id} has not been part of a run yet."
        before = runs[-2].trace if len(runs) > 1 else None
        return explain_trace(node_id, runs[-1].trace, before)

    def close(self) -> None:
        """Stop the queue's worker (pending runs are cancelled), and let go of the cluster."""
        self.queue.shutdown(wait=True, cancel_pending=True)
        if self.store is not None:
            self.store.flush()
        close_backend = getattr(self.executor.backend, "close", None)
        if close_backend is not None:  # a Dask backend: its client, if it made one
            close_backend()
        with Workbench._current_lock:
            if Workbench._current is self:
                Workbench._current = None
            if Workbench._sessions.get(self.data_dir) is self:
                del Workbench._sessions[self.data_dir]


def _seed_control(graph, prompt: dict, wanted, registry) -> dict[str, dict[str, str]]:
    """The seed policies of a run: the graph's own, or ``wanted`` (see ``Workbench.run``)."""
    control = graph.seed_control() if isinstance(graph, Graph) else {}
    if wanted is None:
        return control
    if isinstance(wanted, str):
        policies = {}
        for node_id, node in prompt.items():
            node_type = registry.get(node.get("class_type"))
            controlled = node_type.spec().controlled if node_type is not None else ()
            names = [n for n in controlled if n in node.get("inputs", {})]
            if names:
                policies[node_id] = dict.fromkeys(names, wanted)
        return policies
    policies = {}
    for key, policy in wanted.items():
        node_id = node_id_of(key, graph if isinstance(graph, Graph) else None)
        if isinstance(policy, str):
            node_type = registry.get(prompt.get(node_id, {}).get("class_type"))
            if node_type is None:
                raise KeyError(f"seed_control names {node_id!r}, which is not in the graph")
            policy = dict.fromkeys(node_type.spec().controlled, policy)
        policies[node_id] = {**control.get(node_id, {}), **policy}
    return {**control, **policies}


def _extra_data(graph) -> dict | None:
    """A graph's run carries its UI workflow (``extra_pnginfo.workflow``), so the images
    SaveImage writes reopen here and in ComfyUI with their layout."""
    if not isinstance(graph, Graph):
        return None
    try:
        workflow, _ = workflow_of(graph)
    except Exception as exc:  # the run matters more than its metadata
        print(
            f"the workflow could not be written into the images' metadata: {exc}", file=sys.stderr
        )
        return None
    return {"extra_pnginfo": {"workflow": workflow}}


def _as_list(outputs) -> list:
    if isinstance(outputs, (str, Output, Node)):
        return [outputs]
    return list(outputs)
