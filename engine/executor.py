"""The executor: runs validated prompts, with caching, laziness, expansion and async nodes.

``Executor`` state that lives across prompts (guarded by ``_lock``: one prompt
runs at a time per executor):

- ``outputs``: the output cache store (``caches.py``), keyed by signature.
- ``objects``: node id → (class, instance), so a class node keeps its instance
  (and whatever it loaded) across runs while its class is unchanged.
- ``evidence``: which lazy inputs each node evaluated (``signatures.py``).
- ``last_run``: the memos the last run left for the next (``last_run.py``),
  replaced whole when a run ends.
- ``backend``: what runs node code (``backends/``): in this thread by default,
  or on a Dask cluster; cached outputs may then be placeholders of values kept
  on the cluster, fetched only when asked for (``get_output``).
- ``_interrupt``: set by ``interrupt()`` from any thread, checked before every
  node; cleared when a prompt starts, unless that prompt's interrupt was
  requested before it started (``_interrupt_ahead``: the last such id).
- ``_run``: the running prompt's ``Run``, read by ``abandon`` while its node's
  code runs; ``_abandoned``: the prompt whose result ``abandon`` already gave.
  Both cleared when the prompt ends; guarded by ``_state_lock`` with the
  ``running_*`` fields.

Giving up on a node (``abandon``, the queue's watchdog). A node stuck in a
native call cannot be stopped, so its run's caller may be given the
interrupted result of the run so far while the node's call goes on. The
snapshot is taken under ``_state_lock`` while ``running_node`` names the node:
the running thread is then inside the node's code, so the run's state does
not move. When the call returns, leaving the node's code raises
``InterruptProcessing``: the node stores nothing, and the run ends as
interrupted (its own result is for the caller to discard).

One prompt's execution state and its scheduler are a ``Run`` (``run.py``).
"""

from __future__ import annotations

import gc
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import progress
from ._aio import off_the_loop
from ._async_exc import clear_in_thread, raise_in_thread
from .backends import Backend, make_backend
from .caches import CacheEntry, make_cache
from .errors import DependencyCycleError, DuplicateNodeError, InterruptProcessing
from .events import EventBus, Subscriber
from .explain import LinksView, RunTrace
from .last_run import LastRun
from .registry import NodeRegistry
from .run import Run
from .signatures import LazyEvidence
from .validation import validate_prompt

__all__ = [
    "DependencyCycleError",
    "DuplicateNodeError",
    "ExecutionResult",
    "Executor",
    "InterruptProcessing",
    "PersistentStore",
]


class PersistentStore(Protocol):
    """A second cache level that outlives the process (e.g. on disk), keyed by signature.

    ``put`` may decline values it cannot store; it must never raise for that.
    """

    def contains(self, key: str) -> bool: ...

    def get(self, key: str) -> CacheEntry | None: ...

    def put(self, key: str, entry: CacheEntry, node_type: str) -> None: ...


@dataclass
class ExecutionResult:
    """One prompt's outcome. Each node of the run is in at most one of:

    - ``executed``: its code ran in this run: to its end, or until it failed (the
      node that raised, async nodes still running when the run failed); a node
      stopped by an interrupt is not counted (the error names it);
    - ``cached``: served from a cache entry that existed when the run started (the
      nodes of the ``execution_cached`` event, and cached nodes reached later);
    - ``reused``: served from an identical node (same signature) computed earlier
      in this run, as ComfyUI does; ComfyUI lists such a node nowhere.
    """

    prompt_id: str
    status: str  # "success" | "error" | "interrupted" | "invalid"
    executed: set[str] = field(default_factory=set)
    cached: set[str] = field(default_factory=set)
    outputs: dict[str, dict] = field(default_factory=dict)
    error: dict | None = None
    node_errors: dict[str, dict] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    reused: set[str] = field(default_factory=set)
    trace: RunTrace | None = field(default=None, repr=False)  # what the signatures were made of

    @property
    def ok(self) -> bool:
        return self.status == "success"


class Executor:
    """Executes API prompts with the nodes of ``registry``; see the module docstring."""

    def __init__(
        self,
        registry: NodeRegistry,
        cache: str = "classic",
        *,
        lru_size: int = 100,
        ram_headroom: int | None = None,
        subgraph_caching: bool = True,
        store: PersistentStore | None = None,
        backend: Backend | Any = None,
    ):
        """``backend``: "local" (the default: node code runs in the executing thread),
        a Dask ``distributed.Client``, a ``concurrent.futures.Executor``, or a
        ``Backend`` (see ``engine.backends``)."""
        self.registry = registry
        self.backend = make_backend(backend)
        self.store = store  # consulted when the memory cache misses; given every stored entry
        self.outputs = make_cache(cache, lru_size=lru_size, ram_headroom=ram_headroom)
        self.objects: dict[
            str, tuple[str, type, Any]
        ] = {}  # node id -> (original node, class, instance)
        self.evidence = LazyEvidence()
        self.subgraph_caching = subgraph_caching
        self.events = EventBus()
        self.executed_node_ids: set[str] = set()
        self._interrupt = threading.Event()
        self._interrupt_ahead: str | None = None  # a prompt interrupted before it started
        self._state_lock = threading.Lock()  # guards the running_* fields and the interrupt flag
        self.running_prompt_id: str | None = None
        self.running_thread_id: int | None = None  # the thread executing it
        self.running_node: str | None = None  # the node whose code runs, None between nodes
        self._forced = False  # an interrupt was raised in the running thread (force_interrupt)
        self._run: Run | None = None  # the running prompt's run
        self._abandoned: str | None = None  # a prompt given up on (abandon)
        self._lock = threading.Lock()
        self.last_run = LastRun()

    def subscribe(self, callback: Subscriber):
        """Call ``callback(event)`` for every event; returns a function that unsubscribes."""
        return self.events.subscribe(callback)

    def interrupt(self, prompt_id: str | None = None) -> bool:
        """Stop the running prompt at its next node or progress tick (callable from any thread).

        With ``prompt_id``, only that prompt is interrupted: a late request never
        stops the prompt that runs after it, and an early one (the prompt has not
        started yet) stops it as it starts. Returns whether a running prompt was
        interrupted (False for one not started yet).
        """
        with self._state_lock:
            if prompt_id is not None and prompt_id != self.running_prompt_id:
                # Remember the last one only: prompt ids are unique, so a stale id
                # (of a prompt that has finished) never stops another prompt.
                self._interrupt_ahead = prompt_id
                return False
            self._interrupt.set()
            return self.running_prompt_id is not None

    def force_interrupt(self, prompt_id: str, node_id: str, thread: int) -> bool:
        """Raise ``InterruptProcessing`` in ``thread`` if it still runs ``node_id``'s code
        for ``prompt_id``; returns whether it did (the queue's watchdog calls this).

        Atomic with ``leave_user_code``: an exception raised here reaches the node's
        code or is taken back as the node returns, so it never lands in the engine's
        bookkeeping (storing a finished node's outputs, the memos of the run).
        """
        with self._state_lock:
            if (
                self.running_prompt_id != prompt_id
                or self.running_node != node_id
                or self.running_thread_id != thread
            ):
                return False
            raise_in_thread(thread, InterruptProcessing)
            self._forced = True
            return True

    def leave_user_code(self) -> None:
        """The running node's code returned (or raised): no forced interrupt may follow.

        Raises ``InterruptProcessing`` if the run was given up on (``abandon``),
        so that the node stores nothing.
        """
        with self._state_lock:
            self.running_node = None
            if self._forced:
                # Raised after the node's last bytecode: the run stops at its next
                # check of the interrupt flag instead, in a safe place.
                clear_in_thread(threading.get_ident())
                self._forced = False
            abandoned = self._abandoned is not None and self._abandoned == self.running_prompt_id
        if abandoned:
            progress._current.set(None)  # the node's channel: the raise skips its reset
            raise InterruptProcessing()

    def abandon(self, prompt_id: str, node_id: str) -> ExecutionResult | None:
        """Give up on ``node_id`` of ``prompt_id``, whose code does not return: the run's
        result so far, ``interrupted`` at that node; None if that node's code is not running.

        Callable from any thread (the queue's watchdog; see the module docstring).
        As for any interrupted run, the node stopped is not in ``executed``;
        ``error`` is the interrupted run's (``node_id``, ``node_type``,
        ``executed``) with ``"stopping": True``: the node had not returned. The run goes on until the node's call returns,
        then stops without storing it.
        """
        with self._state_lock:
            run = self._run
            if (
                run is None
                or self.running_prompt_id != prompt_id
                or self.running_node != node_id
                or self._abandoned == prompt_id
            ):
                return None
            self._abandoned = prompt_id
            self._interrupt.set()
            return _result_so_far(run, node_id)

    def check_interrupted(self) -> None:
        """Raise ``InterruptProcessing`` if the run was interrupted (for long nodes to call)."""
        if self._interrupt.is_set():
            raise InterruptProcessing()

    def reset(self) -> None:
        """Forget every cached output, object and lazy-evaluation record."""
        with self._lock:
            self._free()
            self.evidence.clear()
            self.executed_node_ids = set()
            self.last_run = LastRun()

    def get_output(self, node_id: str):
        """The cached outputs of ``node_id`` from the last run (a tuple per slot), or None."""
        key = self.last_run.keys.get(node_id)
        return self.cached_output(key) if key is not None else None

    def cached_output(self, key: str):
        """The outputs cached under signature ``key`` (memory, then the store), or None."""
        entry = self.outputs.get(key)
        if entry is None and self.store is not None:
            entry = self.store.get(key)
        if entry is None:
            return None
        outputs = entry.outputs
        if self.backend.remote:
            if not self.backend.alive(outputs):
                return None  # lost with the cluster's workers
            outputs = self.backend.fetch(outputs)
        return tuple(v[0] if isinstance(v, list) and len(v) == 1 else v for v in outputs)

    def execute(
        self,
        prompt: dict,
        outputs: list[str] | None = None,
        *,
        extra_data: dict | None = None,
        prompt_id: str | None = None,
    ) -> ExecutionResult:
        """Validate and run ``prompt``; ``outputs`` selects partial-execution targets.

        It runs in this thread, unless an event loop is running here (a Jupyter
        cell): then on a thread of its own, while this one waits.
        """

        def run() -> ExecutionResult:
            with self._lock, self.registry.scope():
                return self._execute(
                    prompt, outputs, extra_data or {}, prompt_id or uuid.uuid4().hex
                )

        return off_the_loop(run, "engine-execute")

    def _execute(self, prompt, outputs, extra_data, prompt_id) -> ExecutionResult:
        with self._state_lock:
            if prompt_id == self._interrupt_ahead:  # interrupted before it started
                self._interrupt_ahead = None
                self._interrupt.set()
            else:
                self._interrupt.clear()
            self.running_prompt_id = prompt_id
            self.running_thread_id = threading.get_ident()
            self._forced = False
            self._abandoned = None
        # The engine's own bookkeeping allocates many small objects and no garbage
        # cycles; the cyclic collector scanning them costs up to half of a cached
        # rerun. It stays on while node code runs (see Run.user_code), and then
        # sees only what was made during the run: what existed before (a notebook
        # with torch imported holds a million objects) is frozen until the end.
        collecting = gc.isenabled()
        gc.disable()
        if collecting:
            gc.freeze()
        try:
            return self._run_prompt(prompt, outputs, extra_data, prompt_id, collecting)
        finally:
            if collecting:
                gc.unfreeze()
                gc.enable()
            with self._state_lock:
                self.running_prompt_id = self.running_thread_id = self.running_node = None
                self._run = self._abandoned = None

    def _run_prompt(self, prompt, outputs, extra_data, prompt_id, collecting) -> ExecutionResult:
        self.executed_node_ids = set()
        validation = validate_prompt(prompt, self.registry, outputs, self.last_run.validation)
        if not validation.ok:  # nothing ran: the last run's memos stay as they are
            return ExecutionResult(
                prompt_id, "invalid", error=validation.error, node_errors=validation.node_errors
            )
        run = Run(self, prompt_id, validation, extra_data, collecting)
        with self._state_lock:
            self._run = run
        result = ExecutionResult(prompt_id, "success", node_errors=validation.node_errors)
        self.events.emit("execution_start", prompt_id)
        self.outputs.begin()
        try:
            run.execute(validation.outputs, result)
        finally:
            run.close()
            infos = dict(run.info)  # a plain dict: makes nothing on a miss
            # One assignment: an interrupt finds the old memos or the new, never a mix.
            self.last_run = LastRun(
                validation.memo,
                run.signatures.keys,
                run.signatures.learnt,
                infos,
                {name: c.head for name, c in run.classes.items()},
                run.signatures.fleeting,
            )
            self.outputs.end(validation.prompt.keys())
            self._drop_objects(validation.prompt.keys())
        result.executed = run.executed
        result.cached = run.cached - run.executed
        result.reused = run.reused - run.executed - result.cached
        # The ui of the run's targets (every output node, on a full run): what a cold run
        # shows too, whatever the cache holds of the nodes upstream of them.
        result.outputs = {n: ui for n, ui in run.ui.items() if n in run.targets}
        result.timings = run.timings
        result.trace = RunTrace(
            keys=run.signatures.keys,
            links=LinksView(infos),
            changed=run.signatures.changed,
            executed=result.executed,
            cached=result.cached,
        )
        if result.status == "success":
            self.events.emit("execution_success", prompt_id)
        # Every run ends so, whatever its outcome (ComfyUI's server sends it after
        # each prompt): a view clears its highlights on it.
        self.events.emit("executing", prompt_id, node=None, display_node=None)
        return result

    def _drop_objects(self, prompt_node_ids) -> None:
        objects = self.objects
        for node_id in [
            n for n in objects.keys() - prompt_node_ids if objects[n][0] not in prompt_node_ids
        ]:
            del objects[node_id]

    def _free(self) -> None:
        self.outputs.clear()
        self.objects.clear()
        gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()


def _result_so_far(run: Run, node_id: str) -> ExecutionResult:
    """The interrupted result of ``run`` while ``node_id``'s code runs (see ``abandon``)."""
    executed = set(run.executed)  # the node stopped by the interrupt is not counted
    cached = run.cached - executed
    reused = run.reused - executed - cached
    timings = dict(run.timings)
    started = run.started.get(node_id)
    if started is not None:
        timings[node_id] = time.perf_counter() - started
    real_id = run.dynprompt.get_real_node_id(node_id)
    node_type = run.dynprompt.get_node(node_id).get("class_type")
    error = {
        "node_id": real_id,
        "node_type": node_type,
        "executed": sorted(executed),
        "stopping": True,
    }
    infos = dict(run.info)
    trace = RunTrace(
        keys=dict(run.signatures.keys),
        links=LinksView(infos),
        changed=dict(run.signatures.changed),
        executed=executed,
        cached=cached,
    )
    return ExecutionResult(
        run.prompt_id,
        "interrupted",
        executed=executed,
        cached=cached,
        outputs={n: ui for n, ui in run.ui.items() if n in run.targets},
        error=error,
        timings=timings,
        reused=reused,
        trace=trace,
    )
