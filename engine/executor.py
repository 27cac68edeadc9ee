"""The executor: runs validated prompts, with caching, laziness, expansion and async nodes.

``Executor`` state that lives across prompts (guarded by ``_lock``: one prompt
runs at a time per executor):

- ``outputs``: the output cache store (``caches.py``), keyed by signature.
- ``objects``: node id → (class, instance), so a class node keeps its instance
  (and whatever it loaded) across runs while its class is unchanged.
- ``evidence``: which lazy inputs each node evaluated (``signatures.py``).
- ``_interrupt``: set by ``interrupt()`` from any thread, checked before every
  node; cleared when a prompt starts.

A ``_Run`` holds one prompt's state: the dynamic prompt, its signatures, the
execution list, the values produced or loaded so far (so a cache eviction
mid-run never takes a value a node still needs), and what ran.

A node's outputs are stored in the cache as soon as it finishes, and only
then: a failing or interrupted node leaves no entry, and every node that
finished before it keeps its entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import progress
from .caches import CacheEntry, make_cache
from .events import EventBus, Subscriber
from .execution_list import ExecutionList
from .explain import RunTrace
from .graph import DynamicPrompt, ExecutionBlocker, is_link
from .node_call import call_over_lists, merge_outputs, outputs_from_returns
from .registry import NodeRegistry, NodeType
from .signatures import LazyEvidence, NodeLinks, Signatures
from .validation import ValidationMemo, input_info, validate_prompt

log = logging.getLogger(__name__)


class PersistentStore(Protocol):
    """A second cache level that outlives the process (e.g. on disk), keyed by signature.

    ``put`` may decline values it cannot store; it must never raise for that.
    """

    def contains(self, key: str) -> bool: ...

    def get(self, key: str) -> CacheEntry | None: ...

    def put(self, key: str, entry: CacheEntry, node_type: str) -> None: ...


class InterruptProcessing(Exception):
    """Raised inside a run when the user interrupts it."""


class DependencyCycleError(Exception):
    pass


class DuplicateNodeError(Exception):
    pass


OOM_TIP = (
    "This error means you ran out of memory. The caches were emptied to free it.\n\n"
    "TIPS: if the graph worked before, a batch size or an image size may have been "
    "set too large by accident."
)


@dataclass
class ExecutionResult:
    prompt_id: str
    status: str  # "success" | "error" | "interrupted" | "invalid"
    executed: set[str] = field(default_factory=set)
    cached: set[str] = field(default_factory=set)
    outputs: dict[str, dict] = field(default_factory=dict)
    error: dict | None = None
    node_errors: dict[str, dict] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
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
    ):
        self.registry = registry
        self.store = store  # consulted when the memory cache misses; given every stored entry
        self.cache_strategy = cache
        self.outputs = make_cache(cache, lru_size=lru_size, ram_headroom=ram_headroom)
        self.objects: dict[
            str, tuple[str, type, Any]
        ] = {}  # node id -> (original node, class, instance)
        self.evidence = LazyEvidence()
        self.subgraph_caching = subgraph_caching
        self.events = EventBus()
        self.executed_node_ids: set[str] = set()
        self._interrupt = threading.Event()
        self._state_lock = threading.Lock()  # guards the running_* fields and the interrupt flag
        self.running_prompt_id: str | None = None
        self.running_thread_id: int | None = None  # the thread executing it
        self.running_node: str | None = None  # the node being run, None between nodes
        self._lock = threading.Lock()
        self._last_keys: dict[str, str] = {}
        self._validation_memo = ValidationMemo()
        self._signature_memo: dict[str, tuple] = {}  # see Signatures: eager keys of the last run
        self._node_infos: dict[str, _NodeInfo] = {}  # the last run's, reused for unchanged nodes

    def subscribe(self, callback: Subscriber):
        """Call ``callback(event)`` for every event; returns a function that unsubscribes."""
        return self.events.subscribe(callback)

    def interrupt(self, prompt_id: str | None = None) -> bool:
        """Stop the running prompt at its next node or progress tick (callable from any thread).

        With ``prompt_id``, only that prompt is interrupted: a late request never
        stops the prompt that runs after it. Returns whether a prompt was interrupted.
        """
        with self._state_lock:
            if prompt_id is not None and prompt_id != self.running_prompt_id:
                return False
            self._interrupt.set()
            return self.running_prompt_id is not None

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
            self._last_keys = {}
            self._validation_memo = ValidationMemo()
            self._signature_memo = {}
            self._node_infos = {}

    def get_output(self, node_id: str):
        """The cached outputs of ``node_id`` from the last run (a tuple per slot), or None."""
        key = self._last_keys.get(node_id)
        return self.cached_output(key) if key is not None else None

    def cached_output(self, key: str):
        """The outputs cached under signature ``key`` (memory, then the store), or None."""
        entry = self.outputs.get(key)
        if entry is None and self.store is not None:
            entry = self.store.get(key)
        if entry is None:
            return None
        return tuple(v[0] if isinstance(v, list) and len(v) == 1 else v for v in entry.outputs)

    def execute(
        self,
        prompt: dict,
        outputs: list[str] | None = None,
        *,
        extra_data: dict | None = None,
        prompt_id: str | None = None,
    ) -> ExecutionResult:
        """Validate and run ``prompt`` in this thread; ``outputs`` selects partial-execution targets."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:  # a running event loop here (a Jupyter cell): run on a thread of our own
            box: list = []

            def target() -> None:
                try:
                    box.append(
                        self.execute(prompt, outputs, extra_data=extra_data, prompt_id=prompt_id)
                    )
                except BaseException as exc:  # re-raised in the caller's thread
                    box.append(exc)

            thread = threading.Thread(target=target, name="engine-execute")
            thread.start()
            thread.join()
            if isinstance(box[0], BaseException):
                raise box[0]
            return box[0]
        with self._lock:
            return self._execute(prompt, outputs, extra_data or {}, prompt_id or uuid.uuid4().hex)

    def _execute(self, prompt, outputs, extra_data, prompt_id) -> ExecutionResult:
        with self._state_lock:
            self._interrupt.clear()
            self.running_prompt_id = prompt_id
            self.running_thread_id = threading.get_ident()
        # The engine's own bookkeeping allocates many small objects and no garbage
        # cycles; the cyclic collector scanning them costs up to half of a cached
        # rerun. It stays on while node code runs (see _Run.user_code).
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._run_prompt(prompt, outputs, extra_data, prompt_id, collecting)
        finally:
            if collecting:
                gc.enable()
            with self._state_lock:
                self.running_prompt_id = self.running_thread_id = self.running_node = None

    def _run_prompt(self, prompt, outputs, extra_data, prompt_id, collecting) -> ExecutionResult:
        self.executed_node_ids = set()
        validation = validate_prompt(prompt, self.registry, outputs, self._validation_memo)
        if not validation.ok:
            return ExecutionResult(
                prompt_id, "invalid", error=validation.error, node_errors=validation.node_errors
            )
        run = _Run(self, prompt_id, validation.prompt, extra_data, collecting)
        run.unchanged = validation.unchanged
        result = ExecutionResult(prompt_id, "success", node_errors=validation.node_errors)
        self.events.emit("execution_start", prompt_id)
        self.outputs.begin()
        try:
            run.execute(validation.outputs, result)
        finally:
            run.close()
            self.outputs.end(validation.prompt.keys())
            self._drop_objects(validation.prompt.keys())
            self._last_keys = run.signatures.keys
            self._signature_memo = run.signatures.learnt
            self._node_infos = run.info
        result.executed = run.executed
        result.cached = run.cached - run.executed
        result.outputs = run.ui
        result.timings = run.timings
        result.trace = RunTrace(
            keys=run.signatures.keys,
            links={n: info.signature_links for n, info in run.info.items()},
            changed=run.signatures.changed,
            executed=result.executed,
            cached=result.cached,
        )
        if result.status == "success":
            self.events.emit("executing", prompt_id, node=None, display_node=None)
            self.events.emit("execution_success", prompt_id)
        return result

    def _drop_objects(self, prompt_node_ids) -> None:
        for node_id in [
            n for n, (root, _, _) in self.objects.items() if root not in prompt_node_ids
        ]:
            del self.objects[node_id]

    def _free(self) -> None:
        self.outputs.clear()
        self.objects.clear()
        gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()


_PLAIN = (str, int, float, bool, type(None))


class _Spec:
    """A node class as the hot path needs it: ``INPUT_TYPES()`` digested once per run."""

    __slots__ = ("head", "declared", "lazy", "raw", "defaults", "hidden", "volatile")

    # Hidden inputs the engine fills in; any other hidden input gets the prompt's value.
    FILLED = ("UNIQUE_ID", "PROMPT", "DYNPROMPT", "EXTRA_PNGINFO")

    def __init__(self, node_type: NodeType):
        spec = node_type.input_types()
        self.head = f"{node_type.name}\x1f{node_type.code}"  # the signature's first component
        self.volatile = hasattr(node_type.cls, "IS_CHANGED")
        self.lazy: set[str] = set()
        self.raw: set[str] = set()
        self.defaults: dict[str, Any] = {}  # optional inputs' schema defaults
        hidden = spec.get("hidden") or {}
        self.hidden = {
            name: kind
            for name, kind in hidden.items()
            if isinstance(kind, str) and kind in self.FILLED
        }
        self.declared: set[str] = {name for name in hidden if name not in self.hidden}
        for category in ("required", "optional"):
            for name in spec.get(category) or {}:
                self.declared.add(name)
                options = input_info(spec, name)[2]
                if options.get("lazy"):
                    self.lazy.add(name)
                if options.get("rawLink"):
                    self.raw.add(name)
                if category == "optional" and "default" in options:
                    self.defaults[name] = options["default"]


class _NodeInfo:
    """One node of a run, as the executor sees it (built once per node per run)."""

    __slots__ = ("id", "type", "spec", "inputs", "links", "lazy", "raw", "node", "signature_links")

    def __init__(self, node_id: str, node: dict, node_type: NodeType, spec: _Spec):
        self.id = node_id
        self.node = node
        self.type = node_type
        self.spec = spec
        self.inputs: dict = node.get("inputs", {})
        self.links: list[tuple[str, str, int]] = []  # (input, producer, slot)
        self.raw = spec.raw
        constants: list[tuple[str, Any]] = []
        plain = True  # every constant compares by value (see Signatures' memo)
        eager: list[tuple[str, str, int]] = []
        lazy: dict[str, tuple[str, int]] = {}
        for name, value in self.inputs.items():
            if is_link(value):
                link = (name, value[0], int(value[1]))
                self.links.append(link)
                if name in spec.lazy:
                    lazy[name] = link[1:]
                else:
                    eager.append(link)
            elif name in spec.declared:
                constants.append((name, value))
                plain = plain and type(value) in _PLAIN
        if len(constants) > 1:
            constants.sort(key=lambda item: item[0])
        if len(eager) > 1:
            eager.sort()
        self.lazy = lazy.keys()
        head = spec.head + (f"\x1fid={node_id}" if node_type.not_idempotent else "")
        self.signature_links = NodeLinks(
            head, constants, eager, lazy, [p for _, p, _ in eager], spec.volatile, plain
        )


class _Run:
    """The state of one prompt's execution (see the module docstring)."""

    def __init__(
        self, executor: Executor, prompt_id: str, prompt: dict, extra_data: dict, collecting: bool
    ):
        self.ex = executor
        self.collecting = collecting  # whether the garbage collector runs in node code
        self.prompt_id = prompt_id
        self.prompt = prompt
        self.extra_data = extra_data
        self.dynprompt = DynamicPrompt(prompt)
        self.specs: dict[str, _Spec] = {}
        self.info: dict[str, _NodeInfo] = {}
        self.signatures = Signatures(
            self.node_links, self.is_changed, executor.evidence, executor._signature_memo
        )
        self.list = ExecutionList(self.links_of, self.available, self.is_eager, self.is_output)
        self.values: dict[str, list] = {}  # node id -> outputs (a list per slot) at hand this run
        self.executed = executor.executed_node_ids
        self.cached: set[str] = set()
        self.ui: dict[str, dict] = {}
        self.timings: dict[str, float] = {}
        self.requested: dict[str, set[str]] = {}  # node -> lazy inputs it asked for
        self.pending_subgraphs: dict[str, list] = {}
        self.progress: dict[str, progress.NodeProgress] = {}  # running nodes' progress channels
        self.pending_async: dict[str, list] = {}
        self.started: dict[str, float] = {}
        self.targets: set[str] = set()
        self.unchanged: set[str] = set()  # nodes validation found unchanged since the last run
        self._consumers: dict[str, set[str]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task] = set()

    # --- what the signature, the execution list and the node call need of a node ---

    def node_info(self, node_id: str) -> _NodeInfo:
        info = self.info.get(node_id)
        if info is None and node_id in self.unchanged:
            # Validation found the node as it was in the last run: so is its info.
            info = self.ex._node_infos.get(node_id)
            if info is not None:
                self.info[node_id] = info
        if info is None:
            node = self.dynprompt.get_node(node_id)
            node_type = self.ex.registry.get(node.get("class_type"))
            if node_type is None:
                raise KeyError(
                    f"node {node_id}: node type {node.get('class_type')!r} does not exist"
                )
            spec = self.specs.get(node_type.name)
            if spec is None:
                spec = self.specs[node_type.name] = _Spec(node_type)
            info = self.info[node_id] = _NodeInfo(node_id, node, node_type, spec)
        return info

    def node_links(self, node_id: str) -> NodeLinks:
        return self.node_info(node_id).signature_links

    def is_changed(self, node_id: str) -> Any:
        info = self.node_info(node_id)
        inputs = self.input_values(info, constants_only=True)
        results = call_over_lists(
            info.type.cls,
            "IS_CHANGED",
            inputs,
            info.type.input_is_list,
            node_id=node_id,
            start_task=self.await_now,
            filter_kwargs=True,
        )
        return [None if isinstance(r, ExecutionBlocker) else r for r in results]

    def links_of(self, node_id: str, include_lazy: bool):
        if node_id in self.values:  # at hand (a cached target): its producers are not needed
            return []
        info = self.node_info(node_id)
        requested = self.requested.get(node_id, ())
        return [
            (producer, slot)
            for name, producer, slot in info.links
            if include_lazy or name not in info.lazy or name in requested
        ]

    def is_output(self, node_id: str) -> bool:
        return self.node_info(node_id).type.is_output

    def is_eager(self, node_id: str) -> bool:
        t = self.node_info(node_id).type
        return t.is_output or t.is_async

    def available(self, node_id: str) -> bool:
        """True if ``node_id``'s outputs are at hand: produced this run, or in the cache."""
        if node_id in self.values:
            return True
        entry = self.lookup(node_id)
        if entry is None:
            return False
        self.values[node_id] = entry.outputs
        return True

    def lookup(self, node_id: str, load: bool = True) -> CacheEntry | bool | None:
        """The node's cache entry (memory, then the persistent store), or None.

        With ``load=False`` only whether there is one (the store is not read).
        """
        key = self.signatures.get(node_id)
        if key is None:
            return None
        entry = self.ex.outputs.get(key)
        root = self.dynprompt.get_real_node_id(node_id)
        store = self.ex.store
        if entry is None and store is not None:
            if not load:
                return store.contains(key) or None
            entry = store.get(key)
            if entry is not None:
                self.ex.outputs.set(node_id, root, key, entry)
        if entry is not None:
            self.cached.add(node_id)
            self.ex.outputs.claim(node_id, root, key)
            if entry.ui and (node_id in self.targets or self.is_output(node_id)):
                self.ui[node_id] = entry.ui
        return entry

    # --- the run ---

    def execute(self, targets: list[str], result: ExecutionResult) -> None:
        self.targets = set(targets)
        try:
            for target in targets:
                # A cached target is still staged (to report its ui), without its producers.
                entry = self.lookup(target)
                if entry is not None:
                    self.values[target] = entry.outputs
                self.list.add_node(target)
            self.mark_cached_ancestors()
            self.ex.events.emit("execution_cached", self.prompt_id, nodes=sorted(self.cached))
            while not self.list.is_empty():
                node_id = self.ex.running_node = self.list.stage()
                self.ex.check_interrupted()
                if node_id is None:
                    if self.list.external_blocks:
                        self.wait_for_tasks()
                        continue
                    raise DependencyCycleError("Dependency cycle detected")
                if self.run_node(node_id):
                    self.list.complete(node_id)
                else:
                    self.list.unstage()
                self.ex.outputs.poll()
        except InterruptProcessing:
            self.fail(result, "interrupted", self.list.staged, None)
        except DependencyCycleError as exc:
            self.fail(result, "error", self.blame_cycle(), exc)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                self.fail(result, "interrupted", self.list.staged, None)
            elif isinstance(exc, Exception):
                self.fail(result, "error", self.list.staged, exc)
            else:
                raise

    def mark_cached_ancestors(self) -> None:
        """List as cached the ancestors of cached nodes that hit the cache too (for the UI)."""
        frontier = list(self.cached)
        seen = set(frontier)
        while frontier:
            node_id = frontier.pop()
            info = self.node_info(node_id)
            for name, producer, _ in info.links:
                if name not in info.lazy and producer not in seen:
                    seen.add(producer)
                    if self.lookup(producer, load=False):
                        self.cached.add(producer)
                        frontier.append(producer)

    def run_node(self, node_id: str) -> bool:
        """Run (or serve from cache) the staged node; False if it must wait for more inputs."""
        info = self.node_info(node_id)
        if node_id in self.pending_subgraphs:
            outputs, ui = self.resolve_subgraph(node_id, info), {}
        elif node_id in self.pending_async:
            results = [
                r.result() if isinstance(r, asyncio.Task) else r
                for r in self.pending_async.pop(node_id)
            ]
            outputs, ui, _ = outputs_from_returns(results, info.type)
        else:
            if node_id not in self.started:
                entry = self.lookup(node_id)
                if entry is not None:
                    self.values[node_id] = entry.outputs
                    if entry.ui:
                        self.emit_executed(node_id, entry.ui)
                    return True
                self.started[node_id] = time.perf_counter()
                self.ex.events.emit(
                    "executing",
                    self.prompt_id,
                    node=node_id,
                    display_node=self.dynprompt.get_display_node_id(node_id),
                )
            done = self.call_node(info)
            if done is None:
                return False
            outputs, ui = done
        self.finish(info, outputs, ui)
        return True

    def call_node(self, info: _NodeInfo):
        """Call the node's function; (outputs, ui), or None if it is now waiting on something."""
        node_id, node_type = info.id, info.type
        obj = self.instance(info)
        inputs = self.input_values(info)
        if hasattr(obj, "check_lazy_status"):
            missing = {n for n in info.lazy if n not in self.requested.get(node_id, ())}
            asked = call_over_lists(
                obj,
                "check_lazy_status",
                inputs,
                node_type.input_is_list,
                node_id=node_id,
                start_task=self.await_now,
            )
            needed = {
                n
                for r in asked
                if isinstance(r, list)
                for n in r
                if isinstance(n, str) and n in missing
            }
            if needed:
                self.requested.setdefault(node_id, set()).update(needed)
                for name in needed:
                    producer, slot = info.inputs[name]
                    self.list.add_strong_link(producer, int(slot), node_id)
                return None
        channel = progress.NodeProgress(
            node_id,
            self.dynprompt.get_display_node_id(node_id),
            lambda data: self.ex.events.emit("progress", self.prompt_id, **data),
            self.ex.check_interrupted,
        )
        self.progress[node_id] = channel
        token = progress._current.set(channel)
        try:
            with self.user_code():
                results = call_over_lists(
                    obj,
                    node_type.cls.FUNCTION,
                    inputs,
                    node_type.input_is_list,
                    node_id=node_id,
                    on_block=lambda b: self.blocked(node_id, b),
                    start_task=self.start_task,
                )
        finally:
            progress._current.reset(token)
        tasks = [r for r in results if isinstance(r, asyncio.Task)]
        if tasks:
            self.pending_async[node_id] = results
            unblock = self.list.add_external_block(node_id)
            remaining = [len(tasks)]

            def task_done(_task) -> None:
                remaining[0] -= 1
                if remaining[0] == 0:
                    unblock()

            for task in tasks:
                task.add_done_callback(task_done)
            return None
        outputs, ui, expanding = outputs_from_returns(results, node_type)
        if expanding:
            self.expand(node_id, outputs)
            return None
        return outputs, ui

    def input_values(self, info: _NodeInfo, constants_only: bool = False) -> dict[str, list]:
        """Every input as a list of values; missing links (unevaluated lazy ones) as [None]."""
        values: dict[str, list] = {}
        requested = self.requested.get(info.id, ())
        for name, value in info.inputs.items():
            if is_link(value) and name not in info.raw:
                if constants_only or (name in info.lazy and name not in requested):
                    values[name] = [None]
                    continue
                outputs = self.values.get(value[0])
                slot = int(value[1])
                values[name] = (
                    outputs[slot] if outputs is not None and slot < len(outputs) else [None]
                )
            elif name in info.spec.declared or name in info.raw:
                values[name] = [value]
        for name, default in info.spec.defaults.items():
            if name not in values:
                values[name] = [default]
        for name, kind in info.spec.hidden.items():
            values[name] = [self.hidden_value(kind, info.id)]
        return values

    def hidden_value(self, kind: Any, node_id: str) -> Any:
        if kind == "UNIQUE_ID":
            return node_id
        if kind == "PROMPT":
            return self.dynprompt.get_original_prompt()
        if kind == "DYNPROMPT":
            return self.dynprompt
        if kind == "EXTRA_PNGINFO":
            return self.extra_data.get("extra_pnginfo")
        return None

    def instance(self, info: _NodeInfo) -> Any:
        cached = self.ex.objects.get(info.id)
        if cached is not None and cached[1] is info.type.cls:
            return cached[2]
        obj = info.type.cls()
        self.ex.objects[info.id] = (self.dynprompt.get_real_node_id(info.id), info.type.cls, obj)
        return obj

    def blocked(self, node_id: str, blocker: ExecutionBlocker) -> ExecutionBlocker:
        if blocker.message is not None:
            self.ex.events.emit(
                "execution_error",
                self.prompt_id,
                node_id=node_id,
                node_type=self.node_info(node_id).type.name,
                exception_message=f"Execution Blocked: {blocker.message}",
                exception_type="ExecutionBlocked",
                traceback=[],
                current_inputs={},
                current_outputs=[],
                executed=sorted(self.executed),
            )
        return blocker

    def expand(self, node_id: str, subgraphs: list) -> None:
        """Add the node's returned subgraphs to the run; the node waits for their outputs."""
        new_outputs: list[str] = []
        links: list[tuple[str, int]] = []
        for graph, result in subgraphs:
            if graph is None:
                continue
            for new_id in graph:
                if self.dynprompt.has_node(new_id):
                    raise DuplicateNodeError(
                        f"Attempt to add duplicate node {new_id}. Ensure node ids are unique and "
                        "deterministic or use GraphBuilder."
                    )
            for new_id, node in graph.items():
                self.dynprompt.add_ephemeral_node(
                    new_id, node, node_id, node.get("override_display_id", node_id)
                )
                if self.is_output(new_id):
                    new_outputs.append(new_id)
            links.extend((r[0], int(r[1])) for r in result if is_link(r))
        self.pending_subgraphs[node_id] = subgraphs
        for new_id in new_outputs:
            self.list.add_node(new_id)
        for producer, slot in links:
            self.list.add_strong_link(producer, slot, node_id)

    def resolve_subgraph(self, node_id: str, info: _NodeInfo) -> list:
        resolved = []
        for graph, result in self.pending_subgraphs.pop(node_id):
            if graph is None:
                resolved.append(result)
                continue
            values: list = []
            for item in result:
                if is_link(item):
                    values.extend(self.values[item[0]][int(item[1])])
                else:
                    values.append(item)
            resolved.append(tuple(values))
        return merge_outputs(resolved, info.type)

    def finish(self, info: _NodeInfo, outputs: list, ui: dict) -> None:
        node_id = info.id
        channel = self.progress.pop(node_id, None)
        if channel is not None:
            channel.flush()
        key = self.signatures.record(node_id, self.requested.get(node_id, set()))
        if self.storable(info):
            entry = CacheEntry(ui or None, outputs)
            self.ex.outputs.set(node_id, self.dynprompt.get_real_node_id(node_id), key, entry)
            if self.ex.store is not None and node_id not in self.signatures.fleeting:
                try:
                    self.ex.store.put(key, entry, info.type.name)
                except Exception:  # a full disk must not fail a finished node
                    log.exception("the persistent store could not keep node %s", node_id)
        self.values[node_id] = outputs
        self.executed.add(node_id)
        self.timings[node_id] = time.perf_counter() - self.started.pop(node_id, time.perf_counter())
        if ui:
            self.ui[node_id] = ui
            self.emit_executed(node_id, ui)

    def emit_executed(self, node_id: str, ui: dict) -> None:
        self.ui[node_id] = ui
        self.ex.events.emit(
            "executed",
            self.prompt_id,
            node=node_id,
            display_node=self.dynprompt.get_display_node_id(node_id),
            output=ui,
        )

    def storable(self, info: _NodeInfo) -> bool:
        """False for nodes kept out of the persistent cache (``no_cache``, subgraph internals)."""
        if self.dynprompt.get_node(info.id).get("no_cache"):
            return False
        if self.ex.subgraph_caching or ":" not in info.id or info.type.is_output:
            return True
        prefix = info.id.rsplit(":", 1)[0]
        return any(
            c.rsplit(":", 1)[0] != prefix if ":" in c else True for c in self.consumers(info.id)
        )

    def consumers(self, node_id: str) -> set[str]:
        if self._consumers is None:
            self._consumers = {}
            for consumer, node in self.prompt.items():
                for value in node.get("inputs", {}).values():
                    if is_link(value):
                        self._consumers.setdefault(value[0], set()).add(consumer)
        return self._consumers.get(node_id, set())

    # --- async nodes ---

    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop

    def start_task(self, coroutine) -> Any:
        """Start an async node's coroutine; its value if it finished at once, else its task."""
        task = self.loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.loop().run_until_complete(asyncio.sleep(0))  # let it run up to its first wait
        return task.result() if task.done() else task

    def await_now(self, coroutine) -> Any:
        """Run an async hook (check_lazy_status, IS_CHANGED) to completion."""
        return self.loop().run_until_complete(coroutine)

    def wait_for_tasks(self) -> None:
        """Nothing can run but async tasks are in flight: wait (interruptibly) for one to finish."""
        if not self._tasks:
            raise DependencyCycleError("Dependency cycle detected")
        with self.user_code():
            self.loop().run_until_complete(
                asyncio.wait(set(self._tasks), timeout=0.05, return_when=asyncio.FIRST_COMPLETED)
            )

    @contextlib.contextmanager
    def user_code(self):
        """Node code runs with the garbage collector on (if it was on before the run)."""
        if not self.collecting:
            yield
            return
        gc.enable()
        try:
            yield
        finally:
            gc.disable()

    def close(self) -> None:
        if self._loop is None:
            return
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            self._loop.run_until_complete(asyncio.gather(*self._tasks, return_exceptions=True))
        self._loop.close()

    # --- failure ---

    def blame_cycle(self) -> str | None:
        """A dynamic cycle is blamed on the first node of it the user can see (static
        cycles were rejected by validation, so one node of it came from an expansion)."""
        cycle = self.list.nodes_in_cycle()
        for node_id in cycle:
            display = self.dynprompt.get_display_node_id(node_id)
            if display != node_id:
                return display
        return cycle[0] if cycle else None

    def fail(
        self, result: ExecutionResult, status: str, node_id: str | None, exc: BaseException | None
    ) -> None:
        result.status = status
        real_id = self.dynprompt.get_real_node_id(node_id) if node_id is not None else None
        node_type = None
        if node_id is not None and self.dynprompt.has_node(node_id):
            node_type = self.dynprompt.get_node(node_id).get("class_type")
        self.started.pop(node_id, None)
        if status == "interrupted":
            data = {"node_id": real_id, "node_type": node_type, "executed": sorted(self.executed)}
            result.error = data
            self.ex.events.emit("execution_interrupted", self.prompt_id, **data)
            return
        message = str(exc)
        if _is_oom(exc):
            message = f"{message}\n{OOM_TIP}"
            self.values.clear()
            self.ex._free()
        inputs = {}
        if (
            node_id is not None
            and node_id in self.info
            and not isinstance(exc, DependencyCycleError)
        ):
            try:
                inputs = {
                    k: [summarize(v) for v in vs]
                    for k, vs in self.input_values(self.info[node_id]).items()
                }
            except Exception:
                inputs = {}
        result.error = {
            "node_id": real_id if not isinstance(exc, DependencyCycleError) else node_id,
            "node_type": node_type,
            "exception_type": "graph.DependencyCycleError"
            if isinstance(exc, DependencyCycleError)
            else _full_name(type(exc)),
            "exception_message": message,
            "traceback": traceback.format_tb(exc.__traceback__)
            if not isinstance(exc, DependencyCycleError)
            else [],
            "current_inputs": inputs,
        }
        self.ex.events.emit(
            "execution_error",
            self.prompt_id,
            **result.error,
            executed=sorted(self.executed),
            current_outputs=sorted(self.values),
        )


def summarize(value: Any, limit: int = 200) -> str:
    """A short description of an input value for error reports (tensors by shape and dtype)."""
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None and dtype is not None:
        return f"{type(value).__name__}(shape={list(shape)}, dtype={dtype})"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _is_oom(exc: BaseException | None) -> bool:
    if isinstance(exc, MemoryError):
        return True
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(exc, getattr(torch, "OutOfMemoryError", ()))


def _full_name(cls: type) -> str:
    module = cls.__module__
    return cls.__qualname__ if module in (None, "builtins") else f"{module}.{cls.__qualname__}"
