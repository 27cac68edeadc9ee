"""Stub nodes for the caching, lazy-key, subgraph, expansion and event tests.

Tiny ComfyUI V1 classes, in the spirit of ComfyUI's own test nodes. What they
did is recorded in the module-level ``LOG`` (never in class attributes: those
are part of a node type's code fingerprint, so mutating them would change the
cache keys under the test's feet). The engine conftest clears it before each test.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import torch

from engine import GraphBuilder, NodeRegistry


class CallLog:
    """What the stub nodes did: calls per class, IS_CHANGED calls, instances."""

    def __init__(self):
        self.clear()

    def clear(self) -> None:
        self.calls: Counter[str] = Counter()  # class name -> function calls
        self.is_changed: Counter[str] = Counter()  # class name -> IS_CHANGED calls
        self.is_changed_args: list[dict] = []  # kwargs IS_CHANGED received
        self.inits: Counter[str] = Counter()  # class name -> __init__ calls
        self.instances: dict[str, list] = {}  # unique_id -> instance used per call
        self.kwargs: dict[str, dict] = {}  # class name -> kwargs of the last call
        self.sleep_started = threading.Event()


LOG = CallLog()


class TestError(Exception):
    """A node's own exception type (its full name is module.qualname)."""

    __test__ = False  # not a pytest test class


class Int:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 0, "min": -(10**9), "max": 10**9})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, value):
        LOG.calls["Int"] += 1
        return (value,)


class Bool:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("BOOLEAN", {"default": False})}}

    RETURN_TYPES = ("BOOLEAN",)
    FUNCTION = "run"

    def run(self, value):
        LOG.calls["Bool"] += 1
        return (value,)


class Greater:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"a": ("INT",), "b": ("INT", {"default": 0})}}

    RETURN_TYPES = ("BOOLEAN",)
    FUNCTION = "run"

    def run(self, a, b):
        LOG.calls["Greater"] += 1
        return (a > b,)


class Add:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"a": ("INT", {"default": 0}), "b": ("INT", {"default": 0})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, a, b):
        LOG.calls["Add"] += 1
        return (a + b,)


class Output:
    """An output node: shows its value as ui ``{"value": [value]}``."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("*",)}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    def run(self, value):
        LOG.calls["Output"] += 1
        return {"ui": {"value": [value]}, "result": ()}


class LazySwitch:
    """Returns ``on_true`` or ``on_false``; asks only for the one it returns."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "switch": ("BOOLEAN", {"default": True}),
                "on_true": ("INT", {"lazy": True}),
                "on_false": ("INT", {"lazy": True}),
            }
        }

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def check_lazy_status(self, switch, on_true=None, on_false=None):
        if switch and on_true is None:
            return ["on_true"]
        if not switch and on_false is None:
            return ["on_false"]
        return []

    def run(self, switch, on_true=None, on_false=None):
        LOG.calls["LazySwitch"] += 1
        return (on_true if switch else on_false,)


class CustomIsChanged:
    """ComfyUI's TestCustomIsChanged: ``should_change`` makes IS_CHANGED return NaN."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("INT",), "should_change": ("BOOLEAN", {"default": False})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, x, should_change):
        LOG.calls["CustomIsChanged"] += 1
        return (x,)

    @classmethod
    def IS_CHANGED(cls, x=None, should_change=False):
        LOG.is_changed["CustomIsChanged"] += 1
        LOG.is_changed_args.append({"x": x, "should_change": should_change})
        return float("nan") if should_change else False


class CountIsChanged:
    """IS_CHANGED returns a constant; only the number of calls matters."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("INT",), "tag": ("STRING", {"default": "a"})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, x, tag):
        LOG.calls["CountIsChanged"] += 1
        return (x,)

    @classmethod
    def IS_CHANGED(cls, x=None, tag=None):
        LOG.is_changed["CountIsChanged"] += 1
        return tag


class NotIdempotent:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("INT",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    NOT_IDEMPOTENT = True

    def run(self, x):
        LOG.calls["NotIdempotent"] += 1
        return (x + 1,)


class Idempotent:
    """NotIdempotent's twin without the flag."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("INT",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, x):
        LOG.calls["Idempotent"] += 1
        return (x + 1,)


class Stateful:
    """Records which instance ran for which node id."""

    def __init__(self):
        LOG.inits["Stateful"] += 1

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("INT",)}, "hidden": {"unique_id": "UNIQUE_ID"}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, x, unique_id):
        LOG.calls["Stateful"] += 1
        LOG.instances.setdefault(str(unique_id), []).append(self)
        return (x + 1,)


class FailIf:
    """Raises ValueError while ``fail`` is true; passes ``x`` through otherwise."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("INT",), "fail": ("BOOLEAN", {"default": True})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, x, fail):
        LOG.calls["FailIf"] += 1
        if fail:
            raise ValueError(f"boom with x={x}")
        return (x,)


class RaiseOwn:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("INT",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, x):
        raise TestError("custom failure")


class OutOfMemory:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("INT",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, x):
        LOG.calls["OutOfMemory"] += 1
        raise MemoryError("allocation failed")


class SolidImage:
    """A solid ``[1, size, size, 3]`` float32 image."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("FLOAT", {"default": 0.0}), "size": ("INT", {"default": 4})}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "run"

    def run(self, value, size):
        LOG.calls["SolidImage"] += 1
        return (torch.full((1, size, size, 3), value, dtype=torch.float32),)


class BrokenImageOp:
    """Raises a ValueError about its (tensor) input."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",), "strength": ("FLOAT", {"default": 1.0})}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "apply_effect"

    def apply_effect(self, image, strength):
        raise ValueError("image op failed")


class TensorSum:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"tensor": ("TENSOR",)}}

    RETURN_TYPES = ("FLOAT",)
    FUNCTION = "run"

    def run(self, tensor):
        LOG.calls["TensorSum"] += 1
        return (float(tensor.sum()),)


class Sleep:
    """Sleeps without polling anything; sets ``LOG.sleep_started`` first."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("INT",), "seconds": ("FLOAT", {"default": 0.3})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, x, seconds):
        LOG.calls["Sleep"] += 1
        LOG.sleep_started.set()
        time.sleep(seconds)
        return (x,)


class Expander:
    """Expands into ``Add(value, 1)`` → ``Add(·, 1)`` built with GraphBuilder."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, value):
        LOG.calls["Expander"] += 1
        g = GraphBuilder()
        first = g.node("Add", a=value, b=1)
        second = g.node("Add", a=first.out(0), b=1)
        return {"result": (second.out(0),), "expand": g.finalize()}


class OptionalInputs:
    """Records the kwargs it receives (case 69)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"x": ("INT",)},
            "optional": {"scale": ("INT", {"default": 3}), "extra": ("INT",)},
        }

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, x, **optional):
        LOG.calls["OptionalInputs"] += 1
        LOG.kwargs["OptionalInputs"] = dict(optional)
        scale = optional.get("scale", 1)
        extra = optional.get("extra", 0)
        return (x * scale + extra,)


STUBS = {
    cls.__name__: cls
    for cls in (
        Int,
        Bool,
        Greater,
        Add,
        Output,
        LazySwitch,
        CustomIsChanged,
        CountIsChanged,
        NotIdempotent,
        Idempotent,
        Stateful,
        FailIf,
        RaiseOwn,
        OutOfMemory,
        SolidImage,
        BrokenImageOp,
        TensorSum,
        Sleep,
        Expander,
        OptionalInputs,
    )
}


def make_registry() -> NodeRegistry:
    reg = NodeRegistry()
    reg.load_mappings(STUBS)
    return reg


def ui_value(result, node_id: str):
    """The value an ``Output`` node showed in this run."""
    return result.outputs[node_id]["value"][0]
