"""Node types for the tests of the Dask and futures backends (workers import them by name).

Module globals here live once per process: in the kernel and in each worker.
Tests read a worker's with ``client.run``.
"""

from __future__ import annotations

import os
import threading
import time

import torch

from engine import Executor, NodeRegistry, progress

LOADS = [0]  # models CountingLoader loaded in this process


def _int(default: int = 0) -> tuple:
    return ("INT", {"default": default, "min": -(2**62), "max": 2**62})


def _float(default: float = 0.0) -> tuple:
    return ("FLOAT", {"default": default, "min": 0.0, "max": 1e6})


class Pid:
    """The id of the process it runs in (``tag`` tells apart nodes that must both run)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"tag": _int()}, "optional": {"after": ("*",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, tag, after=None):
        return (os.getpid(),)


class KernelPid(Pid):
    """``Pid``, declared to run in the kernel."""

    RUNS_IN_KERNEL = True


class Add:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"a": _int(), "b": _int()}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, a, b):
        return (a + b,)


class Tensor:
    """A ``size``×``size`` tensor of ``value``."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": _float(), "size": _int(4)}}

    RETURN_TYPES = ("TENSOR",)
    FUNCTION = "run"

    def run(self, value, size):
        return (torch.full((size, size), float(value)),)


class Scale:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"tensor": ("TENSOR",), "factor": _float(1.0)}}

    RETURN_TYPES = ("TENSOR",)
    FUNCTION = "run"

    def run(self, tensor, factor):
        return (tensor * factor,)


class Show:
    """An output node: its ui shows the tensor's sum, its output is the tensor."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"tensor": ("TENSOR",)}}

    RETURN_TYPES = ("TENSOR",)
    FUNCTION = "run"
    OUTPUT_NODE = True

    def run(self, tensor):
        return {"ui": {"sum": [float(tensor.sum())]}, "result": (tensor,)}


class Ticker:
    """Reports ``steps`` progress ticks with a preview, one every millisecond."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"steps": _int(100)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, steps):
        for i in range(steps):
            progress.update(i + 1, steps, preview=torch.full((1, 4, 4, 3), (i + 1) / steps))
            time.sleep(0.001)
        return (steps,)


class Announce:
    """Sends an event of its own (as a ComfyUI pack's ``send_sync``)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"text": ("STRING", {})}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "run"

    def run(self, text):
        progress.send("announce", {"text": text, "node": progress.current_node()})
        return (text,)


class Busy:
    """Reports one tick, then computes in pure Python for ``seconds``, never checking."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seconds": _float(1.0), "tag": _int()}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, seconds, tag):
        progress.update(0, 1)
        deadline = time.monotonic() + seconds
        count = 0
        while time.monotonic() < deadline:
            count += 1
        return (count,)


class Nap:
    """Reports one tick, then sleeps ``seconds``; outputs its process id."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seconds": _float(1.0)}, "optional": {"after": ("*",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, seconds, after=None):
        progress.update(0, 1)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(0.01)
        return (os.getpid(),)


class Rendezvous:
    """Node ``tag`` of ``peers`` (tags 0..peers-1): waits until all have started.

    Nodes that run one after another never all start: the first one gives up
    after a minute.
    """

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"name": ("STRING", {}), "peers": _int(2), "tag": _int()}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, name, peers, tag):
        from distributed import Event

        Event(f"{name}-{tag}").set()
        for other in range(peers):
            if not Event(f"{name}-{other}").wait(timeout=60):
                raise TimeoutError(f"{name}: node {other} never ran at the same time as {tag}")
        return (tag,)


_BARRIERS: dict[str, threading.Barrier] = {}
_BARRIERS_LOCK = threading.Lock()


class Meet:
    """Waits (up to a minute) until ``peers`` nodes with the same ``name`` wait in this process."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"name": ("STRING", {}), "peers": _int(2), "tag": _int()}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, name, peers, tag):
        with _BARRIERS_LOCK:
            barrier = _BARRIERS.setdefault(name, threading.Barrier(peers, timeout=60))
        barrier.wait()
        return (tag,)


class CountingLoader:
    """Loads its "model" once per instance (as model loaders do), counting loads per process."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"name": ("STRING", {})}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "load"
    _lock = threading.Lock()

    def __init__(self):
        self.model = None

    def load(self, name):
        if self.model is None:
            with self._lock:
                LOADS[0] += 1
            self.model = {"name": name, "weights": torch.ones(3)}
        return (self.model,)


class UseModel:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "seed": _int()}}

    RETURN_TYPES = ("TENSOR",)
    FUNCTION = "run"

    def run(self, model, seed):
        return (model["weights"] * seed,)


class ReadFile:
    """The text of a file (a path constant); fails while the file is missing."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"path": ("STRING", {})}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "run"

    def run(self, path):
        with open(path) as f:
            return (f.read(),)


class Fail:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": _int()}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, value):
        raise ValueError(f"cannot take {value}")


class Gate:
    """Reports one tick, then waits (up to a minute, checking interrupts) for the Dask
    ``Event`` named ``name``; outputs ``value``."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"name": ("STRING", {}), "value": _int()}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, name, value):
        from distributed import Event

        progress.update(0, 1)
        event = Event(name)
        deadline = time.monotonic() + 60
        while not event.wait(timeout=0.05):
            progress.check_interrupted()
            if time.monotonic() > deadline:
                raise TimeoutError(f"gate {name} was never opened")
        return (value,)


class Expander:
    """Expands into ``Add(value, 1)``."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": _int()}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, value):
        from engine.graph import GraphBuilder

        graph = GraphBuilder()
        added = graph.node("Add", a=value, b=1)
        return {"result": (added.out(0),), "expand": graph.finalize()}


class Record:
    """Appends ``repr(value)`` as a line to the file ``path``; outputs ``value``."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("*",), "path": ("STRING", {})}}

    RETURN_TYPES = ("*",)
    FUNCTION = "run"

    def run(self, value, path):
        with open(path, "a") as f:
            f.write(f"{value!r}\n")
        return (value,)


def loads(dask_worker=None) -> int:
    """``LOADS`` of this process (for ``client.run``)."""
    return LOADS[0]


def make_registry() -> NodeRegistry:
    registry = NodeRegistry()
    for cls in (
        Pid,
        KernelPid,
        Add,
        Tensor,
        Scale,
        Show,
        Ticker,
        Announce,
        Busy,
        Nap,
        Rendezvous,
        Meet,
        CountingLoader,
        UseModel,
        ReadFile,
        Fail,
        Gate,
        Expander,
        Record,
    ):
        registry.register(cls)
    return registry


# --- helpers for the tests of these backends ---------------------------------------------


def n(class_type: str, **inputs) -> dict:
    return {"class_type": class_type, "inputs": inputs}


def run(ex: Executor, prompt: dict):
    """Run every node of ``prompt`` (most of these have no output node)."""
    return ex.execute(prompt, outputs=list(prompt))


def in_background(function):
    """Run ``function()`` on a thread; returns a dict that gets its "result"."""
    box: dict = {}
    thread = threading.Thread(target=lambda: box.update(result=function()), daemon=True)
    thread.start()
    box["thread"] = thread
    return box


def wait_until(condition, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False
