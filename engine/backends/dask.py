"""The Dask backend: node calls run on a Dask cluster, the run's scheduler stays in the kernel.

``DaskBackend(client)`` (or ``Executor(registry, backend=client)``). Lazy
inputs, ExecutionBlocker, expansion and the cache stay the kernel's, as
locally (``engine/run.py``); a ready node becomes one task:

- ``client.submit(run_task, spec, *producers, key=...)`` (``worker.py``, ``task.py``): the
  producers are the futures of the nodes it reads, so their outputs go from
  worker to worker, never through the kernel. Independent branches run in
  parallel, as the cluster's workers are free.
- The key is the node's type and cache key, ``"<type>-<signature>"``: the
  dashboard names nodes, and two kernels computing the same node share it. A
  key is submitted once per client: a later call with the same signature
  (after a failure, an interrupt, a lazy request or an eviction) gets a
  suffix, ``-1``, ``-2``..., because Dask would hand back the old task: its
  error, or a cancelled one still running.
- The outputs cache keeps ``RemoteSlot``s of the node's future under the
  node's signature, so a cached rerun sends nothing to the cluster and moves
  no data. Values come to the kernel only when asked for (``fetch``:
  ``wb.value``, ``RunResult[...]``, ``Executor.get_output``), for the ``ui``
  of a node (small), and for a node that runs in the kernel.
- A node class with ``RUNS_IN_KERNEL = True`` (it reads or writes the
  kernel's files, shows UI: ``LoadImage``, ``SaveImage``, ``PreviewImage``)
  runs in the kernel, on a ``LocalBackend``, with its inputs fetched first.
- A chain is submitted ahead (``pending``, ``prestart``: "Early starts" in
  ``backends/__init__.py``): a node waiting for calls in flight goes to the
  cluster with their futures as inputs, so Dask starts it when they finish,
  without a round trip to the kernel per link. ``start`` takes the early task
  over if the call is the same, else cancels it; on the worker, an early task
  whose producer expanded or asked for lazy inputs returns None at once.
- What the scheduler needs of a finished node comes back small: a plain
  result is known by its type (Dask reports it with the completion); the
  ``Report`` of a node with ui, an expansion, lazy inputs asked for or blocker
  messages is fetched without its outputs (one small task, ``summary_of``).

Interrupts. Dask cannot stop a running task. ``cancel()`` (the run failed or
was interrupted) sets the job's flag on every worker with ``client.run``,
outside the task system: progress ticks and interrupt checks of the job's
nodes raise ``InterruptProcessing``; a node that ignores it gets that
exception raised asynchronously in its thread after ``grace`` seconds. The
job's futures are cancelled (those not started never start) and forgotten:
none is reported, so none enters the cache.

Faults. A worker that dies mid-task: Dask runs the task again on another
worker (and recomputes lost outputs the cache still refers to); after its
``allowed-failures`` it gives up, and the run fails with an error naming the
node. Any node error comes back as ``RemoteNodeError`` (type, message,
traceback and inputs as described on the worker).

Progress and previews. A node's progress channel on a worker is coalesced as
locally (``engine.progress``) and sent with ``log_event`` on this backend's
topic; ``subscribe_topic`` hands it to the run, which emits the ``progress``
event in the kernel (from Dask's event-loop thread). A node's own events
(``engine.progress.send``) travel the same way, if they are plain data. Previews travel as 8-bit
tensors when they are images (``worker.encode_preview``).

State (mutated from the run's thread unless said):

- ``run``: the run in progress, None between runs (read by the progress handler);
- ``_calls``: Dask key -> (NodeCall, future) of the calls in flight;
- ``_done``: futures that finished (fed by Dask's callback thread);
- ``_early``: node id -> ((what its call sent, its producers' keys), future) of
  calls started ahead,
  not taken over yet; ``_pending``: node id -> (future, output count) of every
  call submitted this run (what ``pending`` gives);
- ``_keys``: base key -> how many times it was submitted through this
  client, by any backend (the last ``KEEP_KEYS`` base keys; ``_SUBMITTED``);
- ``kernel``: the ``LocalBackend`` for nodes that run in the kernel;
- ``_classes``: node class -> its ``PickledClass`` (pickled once, not per task).
"""

from __future__ import annotations

import logging
import queue
import uuid
import weakref
from collections import OrderedDict
from typing import Any

import cloudpickle
from distributed import Client

from ..errors import InterruptProcessing, RemoteNodeError, full_name
from . import NodeCall, Outcome, RemoteSlot, has_remote
from .local import LocalBackend
from .task import Report, TaskSpec, assemble, outputs_of, summary_of
from .worker import (
    PREVIEW_TOPIC,
    PickledClass,
    WorkbenchPlugin,
    decode_preview,
    interrupt_job,
    run_task,
)

log = logging.getLogger(__name__)

KEEP_KEYS = 100_000
# Per client, shared by its backends: a session made again on the same client must
# not get back the tasks the last one cancelled.
_SUBMITTED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
DEFAULT_GRACE = 2.0  # seconds, as the kernel's queue waits before forcing an interrupt


class DaskBackend:
    """Runs node calls on a Dask cluster (see the module docstring).

    ``cluster``: a ``distributed.Client``, a cluster object (``LocalCluster``...)
    or a scheduler address. ``grace``: seconds before an interrupt is forced
    into a node that ignores it (None: never).
    """

    remote = True

    def __init__(self, cluster: Any, grace: float | None = DEFAULT_GRACE):
        if isinstance(cluster, Client):
            self.client, self._owned = cluster, False
        else:
            self.client, self._owned = Client(cluster), True
        self.grace = grace
        self.kernel = LocalBackend()
        self.run: Any = None
        self.topic = f"{PREVIEW_TOPIC}-{uuid.uuid4().hex[:12]}"
        self._calls: dict[str, tuple[NodeCall, Any]] = {}
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        self._early: dict[str, tuple[tuple, Any]] = {}
        self._pending: dict[str, tuple[Any, int]] = {}
        self._classes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._keys: OrderedDict[str, int] = _SUBMITTED.setdefault(self.client, OrderedDict())
        self._context: Any = None
        self.client.register_plugin(WorkbenchPlugin())
        self.client.subscribe_topic(self.topic, self._on_progress)

    def __repr__(self) -> str:
        return f"<DaskBackend on {self.client.scheduler.address}>"

    @property
    def dashboard_link(self) -> str | None:
        return getattr(self.client, "dashboard_link", None)

    def close(self) -> None:
        """Stop following progress (and close the client if this backend made it).
        Closing twice, or after the user closed the client, does nothing more."""
        if self.client.status in ("closing", "closed"):
            return
        self.client.unsubscribe_topic(self.topic)
        if self._owned:
            self.client.close()

    # --- the run ---

    def begin(self, run) -> None:
        self.run = run
        self.kernel.begin(run)
        self._context = None

    def end(self) -> None:
        self.cancel()
        self.kernel.end()
        self.run = None

    def await_now(self, coroutine) -> Any:
        return self.kernel.await_now(coroutine)

    def start(self, call: NodeCall) -> Outcome | None:
        if getattr(call.type.cls, "RUNS_IN_KERNEL", False):
            if has_remote(call.inputs.values()):
                call.inputs = self._fetch_inputs(call.inputs)
            return self.kernel.start(call)
        sent, producers = _sent(call.inputs)
        early = self._early.pop(call.node_id, None)
        if early is not None:
            if _same(early[0], sent, producers):
                future = early[1]
                self._calls[future.key] = (call, future)
                if future.done():  # its completion was dropped by wait_any: report it now
                    self._done.put(future)
                return None
            self.client.cancel([early[1]])
        future = self._submit(call, sent, producers)
        self._calls[future.key] = (call, future)
        return None

    def prestart(self, call: NodeCall) -> bool:
        """Submit ``call`` ahead of its producers' end (see the module docstring)."""
        if getattr(call.type.cls, "RUNS_IN_KERNEL", False):
            return False
        sent, producers = _sent(call.inputs)
        try:
            future = self._submit(call, sent, producers)
        except TypeError:  # cannot travel: ``start`` says so when the node is due
            return False
        self._early[call.node_id] = ((sent, tuple(f.key for f in producers)), future)
        return True

    def pending(self, node_id: str) -> list[RemoteSlot] | None:
        """The outputs a call submitted this run will have, as ``RemoteSlot``s."""
        submitted = self._pending.get(node_id)
        if submitted is None:
            return None
        future, width = submitted
        return [RemoteSlot(future, i) for i in range(width)]

    def _submit(self, call: NodeCall, sent: dict, producers: list) -> Any:
        node_type, node_id, run = call.type, call.node_id, self.run
        spec = TaskSpec.of(call, run, sent, self.context(), self.topic)
        key = self.key(node_type.name, run.signatures.get(node_id))
        try:
            spec.cls = self._classes.get(spec.cls) or self._pickle(spec.cls)
            future = self.client.submit(run_task, spec, *producers, key=key)
        except Exception as exc:  # a value that cannot be pickled: say which node's
            raise TypeError(
                f"node {node_id} ({node_type.name}) cannot be sent to the Dask workers: one "
                f"of its input values (or its class) cannot be pickled ({_cause(exc)})"
            ) from exc
        self._pending[node_id] = (future, len(node_type.return_types))
        future.add_done_callback(self._done.put)
        return future

    def _pickle(self, cls: type) -> PickledClass:
        pickled = self._classes[cls] = PickledClass(cls)
        return pickled

    def context(self) -> Any:
        """The registry's context factory, checked once per run to travel to workers."""
        if self._context is None:
            context = self.run.ex.registry.context
            if context is not None:
                try:
                    cloudpickle.dumps(context)
                except Exception as exc:
                    raise TypeError(
                        f"the node registry's context ({context!r}) cannot be sent to Dask "
                        f"workers: {exc}; give NodeRegistry a picklable context, e.g. "
                        "functools.partial(folders.using, folders)"
                    ) from exc
            self._context = (context,)
        return self._context[0]

    def key(self, type_name: str, signature: str | None) -> str:
        """A Dask key never submitted before through this client (see the module docstring)."""
        base = f"{type_name}-{signature or uuid.uuid4().hex}"
        count = self._keys.pop(base, 0)
        self._keys[base] = count + 1
        if len(self._keys) > KEEP_KEYS:
            self._keys.popitem(last=False)
        return base if count == 0 else f"{base}-{count}"

    def wait_any(self, timeout: float) -> list[tuple[str, Outcome | BaseException]]:
        reports = self.kernel.wait_any(min(timeout, 0.01)) if self.kernel.busy else []
        done = []
        try:
            if not reports and self._calls:
                # The collector runs while we wait, as while node code runs locally: a
                # long run must not pile up the garbage of Dask's own messages.
                self.kernel.enter_user_code(None)
                try:
                    done.append(self._done.get(timeout=timeout))
                finally:
                    self.kernel.leave_user_code()
            while True:
                done.append(self._done.get_nowait())
        except queue.Empty:
            pass
        for future in done:
            entry = self._calls.get(future.key)
            if entry is None or entry[1] is not future:
                continue  # cancelled: never reported
            del self._calls[future.key]
            reports.append((entry[0].node_id, self._outcome(entry[0], future)))
        return reports

    def _outcome(self, call: NodeCall, future) -> Outcome | BaseException:
        status = future.status
        width = len(call.type.return_types)
        if status == "finished":
            report = None
            if future.type is not list:
                if width == 0:  # nothing to keep on the worker: the result is small
                    report = future.result()
                else:
                    report = self.client.submit(
                        summary_of, future, key=f"{future.key}-report"
                    ).result()
            if type(report) is not Report:  # plain outputs
                return Outcome([RemoteSlot(future, i) for i in range(width)], None)
            if report.needed:
                return Outcome(None, needed=set(report.needed))
            if report.expanding:
                return Outcome(report.outputs, report.ui, True, None, report.blocked)
            outputs = [RemoteSlot(future, i) for i in range(width)]
            return Outcome(outputs, report.ui, False, None, report.blocked)
        if status == "error":
            exc = future.exception()
            if isinstance(exc, (InterruptProcessing, RemoteNodeError)):
                return exc
            name = full_name(type(exc))
            if name.endswith("KilledWorker"):
                message = (
                    f"node {call.node_id} ({call.type.name}) could not run: the Dask workers "
                    f"running it died ({exc})"
                )
            else:
                message = f"node {call.node_id} ({call.type.name}) failed on Dask: {exc}"
            return RemoteNodeError(call.node_id, name, message)
        return RemoteNodeError(
            call.node_id,
            "CancelledError",
            f"node {call.node_id} ({call.type.name}) was cancelled on the Dask cluster",
        )

    def cancel(self) -> None:
        futures = [future for _, future in self._calls.values()]
        early = [future for _, future in self._early.values()]
        self._calls.clear()
        self._early.clear()
        self._pending.clear()
        if futures or early:
            try:
                if futures:  # early tasks not taken over wait for these: they never start
                    self.client.run(interrupt_job, self.run.prompt_id, self.grace, wait=False)
                self.client.cancel(futures + early)
            except Exception:  # a cluster gone: nothing left to stop
                log.exception("could not cancel the run's tasks on the Dask cluster")
        while not self._done.empty():
            self._done.get_nowait()
        self.kernel.cancel()

    # --- values ---

    def fetch(self, outputs: list) -> list:
        if not has_remote(outputs):
            return outputs
        refs = {s.ref.key: s.ref for s in outputs if type(s) is RemoteSlot}
        results = dict(zip(refs, self.client.gather(list(refs.values())), strict=True))
        fetched = []
        for s in outputs:
            if type(s) is RemoteSlot:
                values = outputs_of(results[s.ref.key])
                s = values[s.slot] if s.slot < len(values) else [None]
            fetched.append(s)
        return fetched

    def alive(self, outputs: list) -> bool:
        """Whether the cluster still has these outputs (not after a restart that lost them)."""
        for s in outputs:
            if type(s) is RemoteSlot and s.ref.status not in ("finished", "pending"):
                return False
        return True

    def _fetch_inputs(self, inputs: dict) -> dict:
        names = list(inputs)
        values = self.fetch([inputs[name] for name in names])
        return dict(zip(names, values, strict=True))

    def assemble(self, node_id: str, node_type, resolved: list) -> list:
        """An expanded node's outputs joined on the cluster from its subgraphs' (a task)."""
        producers = _Producers()
        recipe = [r if type(r) is tuple else [producers.piece(p) for p in r] for r in resolved]
        shape = TaskSpec(output_is_list=node_type.output_is_list)
        key = self.key(f"{node_type.name}-joined", self.run.signatures.get(node_id))
        future = self.client.submit(assemble, node_id, shape, recipe, *producers, key=key)
        return [RemoteSlot(future, i) for i in range(len(node_type.return_types))]

    # --- progress ---

    def _on_progress(self, event) -> None:
        """A node's progress on a worker (called on Dask's event-loop thread)."""
        run = self.run
        message = event[1] if isinstance(event, tuple) and len(event) == 2 else None
        if run is None or not isinstance(message, dict) or message.get("job") != run.prompt_id:
            return
        if "event" in message:  # a node's own event (engine.progress.send)
            if isinstance(message["event"], str) and isinstance(message.get("data"), dict):
                run.emit_event(message["event"], message["data"])
            return
        node_id = message.get("node")
        if node_id not in run.started:  # finished: a late tick must not revive its bar
            return
        data = {
            "node": node_id,
            "display_node": run.display_node(node_id),
            "value": message.get("value"),
            "max": message.get("max"),
        }
        if message.get("preview") is not None:
            preview = decode_preview(message["preview"])
            if preview is not None:
                data["preview"] = preview
        run.emit_progress(data)


class _Producers(list):
    """The futures a task reads, each once, in the order ``piece`` met them."""

    def __init__(self):
        super().__init__()
        self.positions: dict[str, int] = {}

    def piece(self, value: Any) -> Any:
        """``value`` as the task gets it: a ``RemoteSlot`` becomes ``(producer index, slot)``."""
        if type(value) is not RemoteSlot:
            return value
        index = self.positions.get(value.ref.key)
        if index is None:
            index = self.positions[value.ref.key] = len(self)
            self.append(value.ref)
        return (index, value.slot)


def _sent(inputs: dict) -> tuple[dict, list]:
    """A call's inputs as its task gets them (``_Producers.piece``), and the producers."""
    producers = _Producers()
    return {name: producers.piece(value) for name, value in inputs.items()}, producers


def _same(early: tuple, sent: dict, producers: list) -> bool:
    """Whether an early call (its ``_sent`` and producer keys) sent what ``sent`` and
    ``producers`` would: the same producer tasks and slots, the same value objects
    (compared by identity: values need not support ``==``)."""
    early, keys = early
    if early.keys() != sent.keys() or keys != tuple(future.key for future in producers):
        return False
    for name, value in sent.items():
        other = early[name]
        if type(value) is tuple or type(other) is tuple:
            same = value == other
        else:
            same = len(value) == len(other) and all(
                a is b for a, b in zip(value, other, strict=True)
            )
        if not same:
            return False
    return True


def _cause(exc: BaseException) -> str:
    """What in ``exc``'s chain says why pickling failed (Dask wraps it in its own error)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if "pickle" in str(current):
            return f"{type(current).__name__}: {current}"
        current = current.__cause__ or current.__context__
    return f"{type(exc).__name__}: {exc}"
