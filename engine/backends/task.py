"""One node call away from the run's thread: what a worker task (or a pool job) runs.

``run_call(state, host, spec, producers)`` runs the call a ``TaskSpec``
describes, with the outputs of ``producers`` (results of earlier calls) as
inputs where the spec says so. It returns the node's outputs as a plain
``list`` (one list of values per slot), or a ``Report`` when the scheduler
must see something: ``ui``, an expansion, lazy inputs asked for, blocker
messages; or None, without running the node, when a producer gave no outputs
(it expanded or asked for lazy inputs: only an early start, in
``backends/__init__.py``, meets that). A node's exception becomes a
``RemoteNodeError`` (plain data: it unpickles anywhere); ``InterruptProcessing``
stays what it is.

``host`` serves the node's progress channel (``emit_progress``,
``emit_event``, ``check_interrupted``, ``display_node``). ``state`` is a
``NodeState``, one per process that runs calls, guarded by its ``lock``:

- ``interrupted``: the jobs (run ids) interrupted lately, at most
  ``KEEP_JOBS``. Progress ticks and ``engine.progress.check_interrupted()`` of
  that job's nodes raise ``InterruptProcessing``.
- ``running``: thread id -> (job, node) while a node's code runs in that
  thread. ``grace`` seconds after an interrupt, a job's node code still running
  gets ``InterruptProcessing`` raised asynchronously in its thread, again
  every ``grace`` seconds while it stays; ``forced``: threads it was raised in,
  taken back if the code returns first (as the kernel's queue does locally).
- ``objects``: (real node id, class) -> the node's instance, the ``KEEP_OBJECTS``
  most recently used: a class node keeps what it loaded (a model loader its
  model) in its instance, so a model is loaded once per process, not per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import traceback
from collections import OrderedDict, deque
from typing import Any

from .. import progress
from .._async_exc import clear_in_thread, raise_in_thread
from ..errors import InterruptProcessing, RemoteNodeError, full_name, is_oom, summarize
from ..graph import ExecutionBlocker
from ..node_call import call_over_lists, lazy_needed, merge_outputs, outputs_from_returns

KEEP_JOBS = 256
KEEP_OBJECTS = 512


class TaskSpec:
    """One node call for a worker (pickled with each task: keep it small).

    ``inputs``: input name -> a list of values, or ``(producer index, slot)``.
    ``return_types`` and ``output_is_list`` shape the outputs; ``lazy`` is as in
    ``NodeCall``; ``context`` makes the context node code runs in (the
    registry's, e.g. a session's folders), or is None; ``topic`` is where
    progress goes (the backend's ``subscribe_topic``).
    """

    __slots__ = (
        "cls",
        "node_id",
        "real_id",
        "display",
        "job",
        "inputs",
        "lazy",
        "input_is_list",
        "output_is_list",
        "return_types",
        "context",
        "topic",
    )

    def __init__(self, **fields: Any):
        for name in self.__slots__:
            setattr(self, name, fields.get(name))

    @classmethod
    def of(cls, call, run, inputs: dict, context: Any, topic: Any = None) -> TaskSpec:
        """The spec of ``call`` (a ``NodeCall`` of ``run``) with ``inputs`` as sent."""
        node_type, node_id = call.type, call.node_id
        return cls(
            cls=node_type.cls,
            node_id=node_id,
            real_id=run.dynprompt.get_real_node_id(node_id),
            display=run.dynprompt.get_display_node_id(node_id),
            job=run.prompt_id,
            inputs=inputs,
            lazy=call.lazy,
            input_is_list=node_type.input_is_list,
            output_is_list=node_type.output_is_list,
            return_types=node_type.return_types,
            context=context,
            topic=topic,
        )

    def __getstate__(self):
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setstate__(self, state):
        for name, value in zip(self.__slots__, state, strict=True):
            setattr(self, name, value)


class Report:
    """A node's result when the scheduler must see more than that it finished.

    ``outputs`` as in a plain result (None after ``needed``; the subgraphs
    when ``expanding``), ``ui``, ``expanding``, ``needed`` (lazy inputs asked
    for), ``blocked`` (blocker messages).
    """

    __slots__ = ("outputs", "ui", "expanding", "needed", "blocked")

    def __init__(self, outputs=None, ui=None, expanding=False, needed=None, blocked=None):
        self.outputs = outputs
        self.ui = ui
        self.expanding = expanding
        self.needed = needed
        self.blocked = blocked

    def __getstate__(self):
        return (self.outputs, self.ui, self.expanding, self.needed, self.blocked)

    def __setstate__(self, state):
        self.outputs, self.ui, self.expanding, self.needed, self.blocked = state


def outputs_of(result: Any) -> list:
    """The outputs (a list per slot) in a node task's result."""
    return result.outputs if type(result) is Report else result


def summary_of(result: Any) -> Report | None:
    """What the scheduler needs of a node task's result, without its outputs (a task).

    None for plain outputs. An expansion keeps its subgraphs (the scheduler adds them).
    """
    if type(result) is not Report:
        return None
    outputs = result.outputs if result.expanding else None
    return Report(outputs, result.ui, result.expanding, result.needed, result.blocked)


def run_call(
    state: NodeState, host: Any, spec: TaskSpec, producers: tuple | list
) -> list | Report | None:
    """Run the node call ``spec`` describes (see the module docstring)."""
    state.check(spec.job)
    inputs: dict[str, list] = {}
    for name, value in spec.inputs.items():
        if type(value) is tuple:
            result = producers[value[0]]
            if type(result) is Report and (result.expanding or result.outputs is None):
                # Only a call started early meets this (its producer expanded or asked for
                # lazy inputs): the node must not run; the scheduler calls it again.
                return None
            outputs = outputs_of(result)
            inputs[name] = outputs[value[1]] if value[1] < len(outputs) else [None]
        else:
            inputs[name] = value
    context = spec.context() if spec.context is not None else contextlib.nullcontext()
    try:
        with context:
            return _call(state, host, spec, inputs)
    except InterruptProcessing:
        raise
    except Exception as exc:
        raise _described(spec.node_id, exc, inputs) from None


def _call(state: NodeState, host: Any, spec: TaskSpec, inputs: dict) -> list | Report:
    node_id = spec.node_id
    obj = state.instance(spec)
    if spec.lazy is not None:
        asked = call_over_lists(
            obj,
            "check_lazy_status",
            inputs,
            spec.input_is_list,
            node_id=node_id,
            start_task=_run_coroutine,
        )
        needed = lazy_needed(asked, spec.lazy)
        if needed:
            return Report(needed=needed)
    blocked: list[str] = []
    coroutines: list = []

    def on_block(_node_id: str, blocker: ExecutionBlocker) -> ExecutionBlocker:
        if blocker.message is not None:
            blocked.append(blocker.message)
        return blocker

    def start_task(coroutine) -> _Pending:
        coroutines.append(coroutine)
        return _Pending(len(coroutines) - 1)

    channel = progress.NodeProgress(node_id, host)
    token = progress._current.set(channel)
    state.enter(spec.job, node_id)
    try:
        results = call_over_lists(
            obj,
            obj.FUNCTION,
            inputs,
            spec.input_is_list,
            node_id=node_id,
            on_block=on_block,
            start_task=start_task,
        )
        if coroutines:  # an async node: its calls run concurrently, here
            done = _run_coroutine(_gather(coroutines))
            results = [done[r.index] if type(r) is _Pending else r for r in results]
    finally:
        state.leave()
        progress._current.reset(token)
    if channel.held is not None:
        channel.flush()
    outputs, ui, expanding = outputs_from_returns(results, spec)
    if ui or expanding or blocked:
        return Report(outputs, ui or None, expanding, None, blocked or None)
    return outputs


def assemble(node_id: str, shape: TaskSpec, resolved: list, *producers: Any) -> list:
    """An expanded node's outputs, joined from its subgraphs' (a task; see ``Run.resolve_subgraph``).

    ``resolved``: per call, a tuple of values, or a list of pieces, each a list
    of values or ``(producer index, slot)``.
    """
    try:
        tuples = []
        for entry in resolved:
            if type(entry) is tuple:
                tuples.append(entry)
                continue
            values: list = []
            for piece in entry:
                if type(piece) is tuple:
                    outputs = outputs_of(producers[piece[0]])
                    piece = outputs[piece[1]] if piece[1] < len(outputs) else [None]
                values.extend(piece)
            tuples.append(tuple(values))
        return merge_outputs(tuples, shape)
    except Exception as exc:
        raise _described(node_id, exc, {}) from None


class _Pending:
    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index


async def _gather(coroutines: list) -> list:
    return await asyncio.gather(*coroutines)


def _run_coroutine(coroutine) -> Any:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def _described(node_id: str, exc: BaseException, inputs: dict) -> RemoteNodeError:
    if isinstance(exc, RemoteNodeError):
        return exc
    try:
        summaries = {k: [summarize(v) for v in vs] for k, vs in inputs.items()}
    except Exception:
        summaries = {}
    return RemoteNodeError(
        node_id,
        full_name(type(exc)),
        str(exc),
        traceback.format_tb(exc.__traceback__),
        summaries,
        is_oom(exc),
    )


class NodeState:
    """A process's state for node calls (see the module docstring)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.interrupted: set[str] = set()  # read without the lock: a set's lookup is atomic
        self._order: deque[str] = deque()  # the same jobs, oldest first
        self.running: dict[int, tuple[str, str]] = {}
        self.forced: set[int] = set()
        self.objects: OrderedDict[tuple, Any] = OrderedDict()
        self.made = 0  # instances made (for tests and the bench)

    def __getstate__(self):
        return {}  # sent empty: its state is each process's own

    def __setstate__(self, state):
        self.__init__()

    # --- interrupts ---

    def check(self, job: str) -> None:
        if job in self.interrupted:
            raise InterruptProcessing()

    def interrupt(self, job: str, grace: float | None) -> None:
        with self.lock:
            if job not in self.interrupted:
                self.interrupted.add(job)
                self._order.append(job)
                if len(self._order) > KEEP_JOBS:
                    self.interrupted.discard(self._order.popleft())
        if grace is not None:
            self._force_later(job, grace)

    def _force_later(self, job: str, grace: float) -> None:
        timer = threading.Timer(grace, self._force, (job, grace))
        timer.daemon = True
        timer.start()

    def _force(self, job: str, grace: float) -> None:
        with self.lock:
            threads = [t for t, (j, _) in self.running.items() if j == job]
            for thread in threads:
                raise_in_thread(thread, InterruptProcessing)
                self.forced.add(thread)
        if threads:
            self._force_later(job, grace)

    def enter(self, job: str, node_id: str) -> None:
        with self.lock:
            self.running[threading.get_ident()] = (job, node_id)

    def leave(self) -> None:
        thread = threading.get_ident()
        with self.lock:
            self.running.pop(thread, None)
            if thread in self.forced:
                # Raised after the node's last bytecode: it must not land in Dask's code.
                clear_in_thread(thread)
                self.forced.discard(thread)

    # --- node instances ---

    def instance(self, spec: TaskSpec) -> Any:
        key = (spec.real_id, spec.cls)
        with self.lock:
            obj = self.objects.get(key)
            if obj is not None:
                self.objects.move_to_end(key)
                return obj
        obj = spec.cls()
        with self.lock:
            self.made += 1
            self.objects[key] = obj
            while len(self.objects) > KEEP_OBJECTS:
                self.objects.popitem(last=False)
        return obj
