"""What runs on a Dask worker: a node's task, its progress channel, the worker's state.

A node's task is ``run_task(spec, *producers)``: ``spec`` (a ``TaskSpec``,
``task.py``) is the call, ``producers`` the results of the tasks whose
outputs it reads (Dask passes them in place of their futures, so data moves
between workers, never through the kernel). It returns what ``run_call``
does: plain outputs, or a ``Report``. The kernel tells the two apart by the
result's type, which Dask reports with the task's completion, so plain
outputs never travel.

Each worker's ``NodeState`` is its ``WorkbenchPlugin`` (registered on every
worker by the backend, under ``PLUGIN``). The kernel sets a job's interrupt
flag there with ``client.run`` (``interrupt_job``), outside the task system,
so it reaches a task that is running. Progress goes to the kernel with
``log_event`` on the backend's topic.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Any

import cloudpickle
from distributed import get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from .task import NodeState, Report, TaskSpec, run_call

logger = logging.getLogger(__name__)

PLUGIN = "workbench"
PREVIEW_TOPIC = "workbench-progress"

__all__ = ["PLUGIN", "PREVIEW_TOPIC", "Report", "TaskSpec", "WorkbenchPlugin", "run_task"]


def run_task(spec: TaskSpec, *producers: Any) -> list | Report:
    """A node's task on this worker (see the module docstring)."""
    state = plugin()
    return run_call(state, _Host(state, spec), spec, producers)


class WorkbenchPlugin(NodeState, WorkerPlugin):
    """A worker's ``NodeState``, as a Dask worker plugin."""

    name = PLUGIN
    idempotent = True

    def teardown(self, worker) -> None:
        self.objects.clear()


class _Host:
    """What a node's progress channel needs, on a worker (see ``engine.progress``)."""

    __slots__ = ("state", "spec")

    def __init__(self, state: NodeState, spec: TaskSpec):
        self.state = state
        self.spec = spec

    def check_interrupted(self) -> None:
        self.state.check(self.spec.job)

    def display_node(self, node_id: str) -> str:
        return self.spec.display

    def emit_progress(self, data: dict) -> None:
        message = {
            "job": self.spec.job,
            "node": data["node"],
            "value": _number(data.get("value")),
            "max": _number(data.get("max")),
        }
        preview = data.get("preview")
        if preview is not None:
            message["preview"] = encode_preview(preview)
        get_worker().log_event(self.spec.topic, message)

    def emit_event(self, type: str, data: dict) -> None:
        """An event of the node's own (``progress.send``): sent if it is plain data."""
        message = {"job": self.spec.job, "node": self.spec.node_id, "event": type, "data": data}
        try:
            get_worker().log_event(self.spec.topic, message)
        except TypeError:  # not msgpack data: it cannot leave the worker
            logger.warning("node %s: event %r is not plain data, not sent", self.spec.node_id, type)


class PickledClass:
    """A node class pickled once in the kernel, for every task of it.

    A class defined in a notebook cell pickles by value, which costs a
    millisecond per task: each task carries these bytes instead, and each
    process makes the class from them once (``load_class``).
    """

    __slots__ = ("data",)

    def __init__(self, cls: type):
        self.data = cloudpickle.dumps(cls)

    def __reduce__(self):
        return (load_class, (self.data,))


KEEP_CLASSES = 256
_classes: OrderedDict[bytes, type] = OrderedDict()  # this process's, most recent last
_classes_lock = threading.Lock()


def load_class(data: bytes) -> type:
    """The class ``PickledClass`` pickled, made once per process (the same object after)."""
    with _classes_lock:
        cls = _classes.get(data)
        if cls is not None:
            _classes.move_to_end(data)
            return cls
    cls = cloudpickle.loads(data)
    with _classes_lock:
        _classes[data] = cls
        while len(_classes) > KEEP_CLASSES:
            _classes.popitem(last=False)
    return cls


def _number(value: Any) -> float | int | None:
    if value is None or isinstance(value, (int, float)):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def encode_preview(preview: Any) -> dict | None:
    """A preview tensor as plain data for Dask's event messages (msgpack).

    Float tensors within 0..1 (images) travel as 8-bit values: a quarter of the
    bytes, and the scheduler keeps its last events. None if it is not a tensor.
    """
    import torch

    if not isinstance(preview, torch.Tensor):
        return None
    tensor = preview.detach().to("cpu").contiguous()
    if tensor.is_floating_point() and tensor.numel() and tensor.min() >= 0 and tensor.max() <= 1:
        data = (tensor * 255).round().to(torch.uint8)
        return {"shape": list(tensor.shape), "dtype": "uint8/255", "data": data.numpy().tobytes()}
    dtype = str(tensor.dtype).removeprefix("torch.")
    return {"shape": list(tensor.shape), "dtype": dtype, "data": tensor.numpy().tobytes()}


_DTYPES = ("float16", "float32", "float64", "uint8", "int8", "int16", "int32", "int64", "bool")


def decode_preview(message: Any) -> Any:
    """The tensor ``encode_preview`` described, or None for anything malformed."""
    import numpy
    import torch

    try:
        shape, dtype, data = message["shape"], message["dtype"], message["data"]
        scaled = dtype == "uint8/255"
        if scaled:
            dtype = "uint8"
        if dtype not in _DTYPES or not isinstance(data, bytes):
            return None
        array = numpy.frombuffer(data, dtype=dtype).reshape([int(n) for n in shape])
        tensor = torch.from_numpy(array.copy())
        return tensor.float() / 255 if scaled else tensor
    except (KeyError, TypeError, ValueError):
        return None


def plugin() -> WorkbenchPlugin:
    """This worker's plugin (one is made if the backend's registration has not arrived)."""
    worker = get_worker()
    state = worker.plugins.get(PLUGIN)
    if state is None:
        state = worker.plugins[PLUGIN] = WorkbenchPlugin()
    return state


async def interrupt_job(job: str, grace: float | None, dask_worker=None) -> None:
    """Interrupt ``job`` on this worker (run by ``client.run`` on every worker).

    A coroutine: ``client.run`` need not wait for it, and it runs on the
    worker's event loop, never queued behind the node code it stops.
    """
    state = dask_worker.plugins.get(PLUGIN) if dask_worker is not None else None
    if state is None:
        state = plugin()
    state.interrupt(job, grace)


def running_nodes(dask_worker=None) -> list[tuple[str, str]]:
    """(job, node) of the node code running on this worker now (``client.run``).

    What is really running: Dask forgets a cancelled task at once, while its
    thread still runs it.
    """
    state = dask_worker.plugins.get(PLUGIN)
    if state is None:
        return []
    with state.lock:
        return list(state.running.values())


def objects_made(dask_worker=None) -> int:
    """How many node instances this worker has made (``client.run``: tests and the bench)."""
    state = dask_worker.plugins.get(PLUGIN)
    return state.made if state is not None else 0
