"""One prompt's execution: the scheduler of a run, and its state.

A ``Run`` holds one prompt's state: the dynamic prompt, its signatures, the
execution list, the values produced or loaded so far (so a cache eviction
mid-run never takes a value a node still needs), and what ran. Its executor
(``executor.py``) holds what lives across runs.

The run decides what runs and when (lazy inputs, ExecutionBlocker, expansion,
caching, events); a backend (``backends/``) runs each ready node's code:
``backend.start(call)`` runs it or starts it, ``backend.wait_any()`` reports
calls in flight that finished, ``backend.cancel()`` stops them. Per run:

- ``in_flight``: node id -> (the function that releases its external block,
  its signature) for calls the backend has in flight; ``flying``: signature
  -> the sync node in flight under it. An identical node waits for it, then
  reuses its entry, as it does locally where a sync node finishes before the
  next one starts (identical async nodes run side by side, as locally);
  ``outcomes``: node id -> the outcome (or exception) of a call that finished
  in flight, until its node is staged again and takes it.
- ``started``: nodes whose code started (for their timing, and to count them
  as run if the run fails); ``early``: the signatures of nodes a remote
  backend started ahead of their producers' end (``start_early``);
  ``requested``: the lazy inputs each node asked for; ``pending_subgraphs``:
  nodes waiting for the outputs of their expansion.

A node's outputs are stored in the cache as soon as it finishes, and only
then: a failing or interrupted node leaves no entry, and every node that
finished before it keeps its entry. How a failed or interrupted run ends is
``failure.py``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .backends import NodeCall, Outcome, RemoteSlot, has_remote
from .caches import CacheEntry, OutputCache
from .errors import (
    DependencyCycleError,
    DuplicateNodeError,
    InterruptProcessing,
    RemoteNodeError,
)
from .execution_list import ExecutionList
from .failure import blame_cycle, fail
from .graph import DynamicPrompt, ExecutionBlocker, is_link, iter_links
from .node_call import call_over_lists, merge_outputs
from .node_info import ClassInfo, NodeInfo
from .registry import NodeType
from .signatures import NodeLinks, Signatures

if TYPE_CHECKING:
    from .executor import ExecutionResult, Executor
    from .validation import ValidationResult

log = logging.getLogger(__name__)

_NOTHING: frozenset[str] = frozenset()


class NodeInfos(dict):
    """node id -> NodeInfo, each made by ``make(node_id)`` on first use: a made one
    costs a plain dict lookup, which the hot path does several times per node."""

    __slots__ = ("make",)

    def __init__(self, make: Callable[[str], NodeInfo]):
        super().__init__()
        self.make = make

    def __missing__(self, node_id: str) -> NodeInfo:
        info = self[node_id] = self.make(node_id)
        return info


class Run:
    """The state of one prompt's execution (see the module docstring)."""

    def __init__(
        self,
        executor: Executor,
        prompt_id: str,
        validation: ValidationResult,
        extra_data: dict,
        collecting: bool,
    ):
        self.ex = executor
        self.backend = executor.backend
        self.last = executor.last_run  # what the last run left: read once, as one
        self.collecting = collecting  # whether the garbage collector runs in node code
        self.prompt_id = prompt_id
        self.prompt = validation.prompt
        self.extra_data = extra_data
        self.dynprompt = DynamicPrompt(self.prompt)
        self.validated_specs = validation.specs  # the specs validation read
        self.unchanged = validation.unchanged  # nodes validation found unchanged since the last run
        self.order = validation.order  # validation's walk: valid nodes, each after its producers
        self.classes: dict[str, ClassInfo] = {}
        self.info = NodeInfos(self.make_info)  # node id -> NodeInfo, made on first use
        self.signatures = Signatures(
            self.node_links,
            self.is_changed,
            executor.evidence,
            self.last.signatures,
            self.head_of,
            self.consumers,
        )
        self.list = ExecutionList(self.links_of, self.available, self.node_type)
        self.values: dict[str, list] = {}  # node id -> outputs (a list per slot) at hand this run
        self.executed = executor.executed_node_ids  # nodes whose code started, however it ended
        self.cached: set[str] = set()  # served from entries that existed when the run started
        self.reused: set[str] = set()  # served from an identical node computed in this run
        self.stored: set[str] = set()  # the keys this run stored
        self.ui: dict[str, dict] = {}
        self.timings: dict[str, float] = {}
        self.requested: dict[str, set[str]] = {}  # node -> lazy inputs it asked for
        self.pending_subgraphs: dict[str, list] = {}
        self.in_flight: dict[str, tuple[Callable[[], None], str | None]] = {}
        self.flying: dict[str, str] = {}
        self.outcomes: dict[str, Outcome | BaseException] = {}
        self.started: dict[str, float] = {}
        self.early: set[str] = set()
        self.prestart = getattr(self.backend, "prestart", None)
        self.targets: set[str] = set()
        self.adopted = False  # signatures taken whole from the last run
        self._consumers: dict[str, set[str]] | None = None

    # --- what the signature, the execution list and the node call need of a node ---

    def make_info(self, node_id: str) -> NodeInfo:
        node = self.dynprompt.get_node(node_id)
        node_type = self.ex.registry.get(node.get("class_type"))
        if node_type is None:
            raise KeyError(f"node {node_id}: node type {node.get('class_type')!r} does not exist")
        spec = self.class_info(node_type)
        if node_id in self.unchanged:
            # Validation found the node as it was in the last run: so is its info,
            # unless the globals its code reads have changed since.
            info = self.last.infos.get(node_id)
            if info is not None and info.spec.head == spec.head:
                return info
        return NodeInfo(node_id, node, node_type, spec)

    def class_info(self, node_type: NodeType) -> ClassInfo:
        known = self.classes.get(node_type.name)
        if known is None:
            spec = self.validated_specs.get(node_type.name)  # None for expanded nodes' classes
            known = self.classes[node_type.name] = ClassInfo(node_type, spec)
        return known

    def head_of(self, class_type: str) -> str:
        """The current signature head of a class type (its code and globals)."""
        node_type = self.ex.registry.get(class_type)
        return self.class_info(node_type).head if node_type is not None else "missing"

    def node_links(self, node_id: str) -> NodeLinks:
        return self.info[node_id].signature_links

    def is_changed(self, node_id: str) -> Any:
        info = self.info[node_id]
        inputs = self.input_values(info, constants_only=True)
        results = call_over_lists(
            info.type.cls,
            "IS_CHANGED",
            inputs,
            info.type.input_is_list,
            node_id=node_id,
            start_task=self.backend.await_now,
            filter_kwargs=True,
        )
        return [None if isinstance(r, ExecutionBlocker) else r for r in results]

    def links_of(self, node_id: str, include_lazy: bool):
        if node_id in self.values:  # at hand (a cached target): its producers are not needed
            return []
        info = self.info[node_id]
        if not info.lazy:
            return info.producers
        requested = self.requested.get(node_id, ())
        return [
            producer
            for name, producer, _ in info.links
            if include_lazy or name not in info.lazy or name in requested
        ]

    def is_output(self, node_id: str) -> bool:
        return self.info[node_id].type.is_output

    def node_type(self, node_id: str) -> NodeType:
        return self.info[node_id].type

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
        if entry is not None and self.backend.remote and not self.backend.alive(entry.outputs):
            entry = None  # its values are lost (a cluster restarted): compute it again
        store = self.ex.store
        if entry is None and store is not None:
            if not load:
                return store.contains(key) or None
            entry = store.get(key)
            if entry is not None:
                self.ex.outputs.set(node_id, self.dynprompt.get_real_node_id(node_id), key, entry)
        if entry is not None:
            (self.reused if key in self.stored else self.cached).add(node_id)
            self.ex.outputs.claim(node_id, self.dynprompt.get_real_node_id(node_id), key)
            if entry.ui and node_id in self.targets:
                self.ui[node_id] = entry.ui
        return entry

    # --- the run ---

    def adopt_unchanged_signatures(self) -> None:
        """Reuse the last run's signatures when none can differ.

        That is when validation found every node as it was, and no key reads
        anything else that may have changed: no class's code or globals, no
        ``IS_CHANGED``, no lazy input (its evidence), no random component.
        Then the whole prompt is keyed without hashing or walking it.
        """
        ex, last = self.ex, self.last
        if not last.keys or last.fleeting or len(self.unchanged) != len(self.prompt):
            return
        for class_type in {node["class_type"] for node in self.prompt.values()}:
            spec = self.class_info(ex.registry.get(class_type))
            if (
                spec.volatile
                or spec.lazy
                or class_type in ex.evidence.expanding  # its expansion's classes may have changed
                or last.heads.get(class_type) != spec.head
            ):
                return
        self.signatures.adopt(last.keys, self.prompt)
        self.adopted = True

    def execute(self, targets: list[str], result: ExecutionResult) -> None:
        self.targets = set(targets)
        self.backend.begin(self)
        try:
            self.adopt_unchanged_signatures()
            if not self.adopted:
                self.signatures.forward(self.order)
            for target in targets:
                # A cached target is still staged (to report its ui), without its producers.
                entry = self.lookup(target)
                if entry is not None:
                    self.values[target] = entry.outputs
                self.list.add_node(target)
            self.mark_cached_ancestors()
            if self.ex.events.active:
                self.ex.events.emit("execution_cached", self.prompt_id, nodes=sorted(self.cached))
            # Only a store that reacts to memory pressure needs a look after every node.
            poll = (
                self.ex.outputs.poll if type(self.ex.outputs).poll is not OutputCache.poll else None
            )
            while not self.list.is_empty():
                node_id = self.list.stage()
                self.ex.check_interrupted()
                if node_id is None:
                    if self.list.external_blocks:
                        self.wait_any()
                        continue
                    raise DependencyCycleError("Dependency cycle detected")
                if self.run_node(node_id):
                    self.list.complete(node_id)
                else:
                    self.list.unstage()
                if poll is not None:
                    poll()
        except InterruptProcessing:
            fail(self, result, "interrupted", self.list.staged, None)
        except DependencyCycleError as exc:
            fail(self, result, "error", blame_cycle(self), exc)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                fail(self, result, "interrupted", self.list.staged, None)
            elif isinstance(exc, RemoteNodeError) and self.dynprompt.has_node(exc.node_id):
                fail(self, result, "error", exc.node_id, exc)  # perhaps a producer, recomputed
            elif isinstance(exc, Exception):
                fail(self, result, "error", self.list.staged, exc)
            else:
                raise

    def mark_cached_ancestors(self) -> None:
        """List as cached the ancestors of cached nodes that hit the cache too (for the UI)."""
        if self.adopted:
            # The last run's keys are this run's, for exactly the nodes the targets
            # reach: one pass over them, in order, instead of a walk.
            cached, lookup = self.cached, self.lookup
            for node_id in self.signatures.keys:
                if node_id not in cached and lookup(node_id, load=False):
                    cached.add(node_id)
            return
        frontier = list(self.cached)
        seen = set(frontier)
        while frontier:
            node_id = frontier.pop()
            info = self.info[node_id]
            for name, producer, _ in info.links:
                if name not in info.lazy and producer not in seen:
                    seen.add(producer)
                    if self.lookup(producer, load=False):
                        self.cached.add(producer)
                        frontier.append(producer)

    def run_node(self, node_id: str) -> bool:
        """Run (or serve from cache) the staged node; False if it must wait for something."""
        info = self.info[node_id]
        if node_id in self.pending_subgraphs:
            outputs = self.resolve_subgraph(node_id, info)
            self.finish(info, outputs, {}, self.expansion_classes(node_id))
            return True
        outcome = self.outcomes.pop(node_id, None) if self.outcomes else None
        if outcome is None:
            if node_id not in self.started:
                entry = self.lookup(node_id)
                if entry is not None:
                    self.values[node_id] = entry.outputs
                    if entry.ui:
                        self.emit_executed(node_id, entry.ui)
                    return True
                if self.flying:
                    twin = self.flying.get(self.signatures.keys.get(node_id))
                    if twin is not None:  # an identical node is in flight: its entry will do
                        self.list.add_strong_link(twin, node_id)
                        return False
                self.started[node_id] = time.perf_counter()
                if self.ex.events.active:
                    self.ex.events.emit(
                        "executing",
                        self.prompt_id,
                        node=node_id,
                        display_node=self.dynprompt.get_display_node_id(node_id),
                    )
            lazy = None
            if hasattr(info.type.cls, "check_lazy_status"):
                requested = self.requested.get(node_id, ())
                lazy = frozenset(n for n in info.lazy if n not in requested)
            outcome = self.backend.start(
                NodeCall(node_id, info.type, self.input_values(info), lazy)
            )
            if outcome is None:  # in flight: wait_any reports it, then the node is staged again
                key = self.signatures.keys.get(node_id)
                self.in_flight[node_id] = (self.list.add_external_block(node_id), key)
                if key is not None and not info.type.is_async:
                    self.flying[key] = node_id
                if self.prestart is not None:
                    self.start_early(node_id)
                return False
        elif type(outcome) is not Outcome:
            raise outcome
        return self.take(info, outcome)

    def take(self, info: NodeInfo, outcome: Outcome) -> bool:
        """Act on a finished call's outcome; False if the node now waits for something."""
        node_id = info.id
        if outcome.needed:
            self.requested.setdefault(node_id, set()).update(outcome.needed)
            for name in outcome.needed:
                self.list.add_strong_link(info.inputs[name][0], node_id)
            return False
        if outcome.blocked:
            for message in outcome.blocked:
                self.blocked(node_id, message)
        if outcome.expanding:
            self.expand(node_id, outcome.outputs)
            return False
        self.finish(info, outcome.outputs, outcome.ui)
        return True

    def start_early(self, node_id: str) -> None:
        """Start ahead the nodes waiting for ``node_id`` (in flight), and those waiting for
        them, when every producer they read is at hand or in flight (see ``backends``)."""
        pending, waiting, early = self.backend.pending, self.list.blocking, self.early
        stack = [node_id]
        while stack:
            for consumer in waiting.get(stack.pop(), ()):
                if consumer in self.started or consumer in self.values:
                    continue
                key = self.signatures.keys.get(consumer)
                if key is None or key in early or key in self.flying or key in self.stored:
                    continue  # started ahead already, or an identical node will do
                info = self.info[consumer]
                if info.lazy or hasattr(info.type.cls, "check_lazy_status"):
                    continue
                if not all(p in self.values or pending(p) is not None for p in info.producers):
                    continue
                call = NodeCall(consumer, info.type, self.input_values(info, pending=pending), None)
                if self.prestart(call):
                    early.add(key)
                    stack.append(consumer)

    def wait_any(self) -> None:
        """Nothing can be staged while calls are in flight: wait (interruptibly) for one."""
        if not self.in_flight:
            raise DependencyCycleError("Dependency cycle detected")
        for node_id, outcome in self.backend.wait_any(0.05):
            flight = self.in_flight.pop(node_id, None)
            if flight is not None:
                release, key = flight
                if key is not None and self.flying.get(key) == node_id:
                    del self.flying[key]
                self.outcomes[node_id] = outcome
                release()

    def input_values(
        self, info: NodeInfo, constants_only: bool = False, pending: Callable | None = None
    ) -> dict[str, list]:
        """Every input as a list of values; missing links (unevaluated lazy ones) as [None].

        ``pending(producer)``: the outputs of a producer still in flight (an early start).
        """
        values: dict[str, list] = {}
        requested = self.requested.get(info.id, ())
        at_hand = self.values
        raw, lazy, declared = info.raw, info.lazy, info.spec.declared
        for name, producer, slot in info.links:
            if name in raw:
                continue
            if constants_only or (name in lazy and name not in requested):
                values[name] = [None]
                continue
            outputs = at_hand.get(producer)
            if outputs is None and pending is not None:
                outputs = pending(producer)
            values[name] = outputs[slot] if outputs is not None and slot < len(outputs) else [None]
        for name, value in info.inputs.items():
            if name not in values and (name in declared or name in raw):
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

    def blocked(self, node_id: str, message: str) -> None:
        """An ExecutionBlocker with a message stopped one of the node's calls: report it."""
        if self.ex.events.active:
            self.ex.events.emit(
                "execution_error",
                self.prompt_id,
                node_id=node_id,
                node_type=self.info[node_id].type.name,
                exception_message=f"Execution Blocked: {message}",
                exception_type="ExecutionBlocked",
                traceback=[],
                current_inputs={},
                current_outputs=[],
                executed=sorted(self.executed),
            )

    def expand(self, node_id: str, subgraphs: list) -> None:
        """Add the node's returned subgraphs to the run; the node waits for their outputs."""
        new_outputs: list[str] = []
        producers: list[str] = []
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
            producers.extend(r[0] for r in result if is_link(r))
        self.pending_subgraphs[node_id] = subgraphs
        for new_id in new_outputs:
            self.list.add_node(new_id)
        for producer in producers:
            self.list.add_strong_link(producer, node_id)

    def expansion_ui(self, node_id: str) -> dict:
        """The ui of the output nodes ``node_id``'s expansion made, merged in the order they ran."""
        parents = self.dynprompt.ephemeral_parents
        merged: dict[str, list] = {}
        for child, ui in self.ui.items():
            parent = parents.get(child)
            while parent is not None and parent != node_id:
                parent = parents.get(parent)
            if parent == node_id:
                for key, values in ui.items():
                    merged.setdefault(key, []).extend(
                        values if isinstance(values, list) else [values]
                    )
        return merged

    def expansion_classes(self, node_id: str) -> frozenset[str]:
        """The class types of the nodes ``node_id``'s expansion made, nested ones included."""
        parents = self.dynprompt.ephemeral_parents
        classes = set()
        for child, parent in parents.items():
            while parent is not None and parent != node_id:
                parent = parents.get(parent)
            if parent == node_id:
                classes.add(self.dynprompt.get_node(child).get("class_type"))
        return frozenset(classes)

    def resolve_subgraph(self, node_id: str, info: NodeInfo) -> list:
        """The expanded node's outputs, from its subgraphs' (a backend joins values it keeps)."""
        resolved: list = []  # per call: a tuple of values, or a list of pieces to join
        remote = False
        for graph, result in self.pending_subgraphs.pop(node_id):
            if graph is None:
                resolved.append(result)
                continue
            pieces: list = []
            for item in result:
                if is_link(item):
                    piece = self.values[item[0]][int(item[1])]
                    remote = remote or type(piece) is RemoteSlot
                    pieces.append(piece)
                else:
                    pieces.append([item])
            resolved.append(pieces)
        if remote:
            return self.backend.assemble(node_id, info.type, resolved)
        return merge_outputs(
            [r if type(r) is tuple else tuple(v for p in r for v in p) for r in resolved],
            info.type,
        )

    # --- what a node's progress channel needs (engine.progress) ---

    def emit_progress(self, data: dict) -> None:
        self.ex.events.emit("progress", self.prompt_id, **data)

    def emit_event(self, type: str, data: dict) -> None:
        """An event of the node's own (``progress.send``), with this run's prompt id."""
        self.ex.events.emit(type, self.prompt_id, **data)

    def check_interrupted(self) -> None:
        self.ex.check_interrupted()

    def display_node(self, node_id: str) -> str:
        return self.dynprompt.get_display_node_id(node_id)

    def finish(
        self, info: NodeInfo, outputs: list, ui: dict | None, expanded: frozenset[str] | None = None
    ) -> None:
        """The node is done: store and record its outputs (``expanded``: the class types
        its expansion used, if it expanded)."""
        node_id = info.id
        key = self.signatures.record(node_id, self.requested.get(node_id, _NOTHING), expanded)
        if expanded is not None:
            # Its ui is what the output nodes of its expansion showed: kept with its
            # entry, a cached rerun of it shows the same (their events were sent).
            ui = self.expansion_ui(node_id)
            if ui and node_id in self.targets:
                self.ui[node_id] = ui
        if self.storable(info):
            entry = CacheEntry(ui or None, outputs)
            self.ex.outputs.set(node_id, self.dynprompt.get_real_node_id(node_id), key, entry)
            self.stored.add(key)
            store = self.ex.store
            if (
                store is not None
                and node_id not in self.signatures.fleeting
                and not (self.backend.remote and has_remote(outputs))
            ):
                try:
                    store.put(key, entry, info.type.name)
                except Exception:  # a full disk must not fail a finished node
                    log.exception("the persistent store could not keep node %s", node_id)
        self.values[node_id] = outputs
        self.executed.add(node_id)
        self.timings[node_id] = time.perf_counter() - self.started.pop(node_id)
        if ui and expanded is None:
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

    def storable(self, info: NodeInfo) -> bool:
        """False for nodes kept out of the persistent cache (``no_cache``, subgraph internals)."""
        if info.node.get("no_cache"):
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
                for _, producer, _ in iter_links(node.get("inputs", {})):
                    self._consumers.setdefault(producer, set()).add(consumer)
        return self._consumers.get(node_id, set())

    def close(self) -> None:
        """The run is over: the backend stops what is still in flight, if anything."""
        self.in_flight.clear()
        self.flying.clear()
        self.early.clear()
        self.outcomes.clear()
        self.backend.end()
