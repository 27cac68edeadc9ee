"""Stub node types for the engine tests, and helpers to write prompts as literals.

These are our own equivalents of the small nodes ComfyUI's execution tests use
(its ``tests/execution/testing_nodes`` pack), written against the ComfyUI V1
class API so they also exercise what node packs rely on: ``lazy`` inputs and
``check_lazy_status``, ``IS_CHANGED``, ``VALIDATE_INPUTS`` in its three shapes,
``rawLink``, the ``UNIQUE_ID``/``DYNPROMPT`` hidden inputs, ``GraphBuilder``
expansion, ``OUTPUT_IS_LIST``/``INPUT_IS_LIST``, ``ExecutionBlocker``, ``"*"``
types, ``str`` subclasses with a custom ``__ne__``, and ``async def`` hooks.

``SaveImage``, ``PreviewImage`` and ``RebatchImages`` stand in for ComfyUI's
nodes of those names. The two output nodes write no files; their ``ui`` lists,
per image of the batch, what a saved 8-bit PNG would hold, so tests can check
pixel values the way ComfyUI's tests read the PNG back::

    {"images": [{"filename", "subfolder", "type", "shape": [H, W, C],
                 "min": int, "max": int, "mean": float}, ...]}

Images are ``[batch, height, width, 3]`` float tensors in 0..1; masks are
``[batch, height, width]``. Stub images default to 64×64 (ComfyUI's tests use
512×512; the values are what matter).

Prompts in the tests are dict literals with readable ids::

    {
        "black": image("BLACK"),
        "mask": mask(0.0),
        "mix": lazy_mix("black", "white", "mask"),
        "save": save("mix"),
    }
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import torch

from engine import ExecutionBlocker, GraphBuilder, NodeRegistry, is_link

SIZE = 64
ANY = "*"
NUM_FLOW_SOCKETS = 5
NUM_LIST_SOCKETS = 10
BIG = 0xFFFFFFFFFFFFFFFF


def _int(default: int = 0, lo: int = -BIG, hi: int = BIG) -> tuple:
    return ("INT", {"default": default, "min": lo, "max": hi, "step": 1})


def _size(default: int = SIZE) -> tuple:
    return ("INT", {"default": default, "min": 1, "max": 1 << 20, "step": 1})


# --- Stub sources --------------------------------------------------------------------


class StubImage:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "content": (["WHITE", "BLACK", "NOISE"],),
                "height": _size(),
                "width": _size(),
                "batch_size": _size(1),
            }
        }

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "make"
    CATEGORY = "Testing/Stub Nodes"

    def make(self, content, height, width, batch_size):
        shape = (batch_size, height, width, 3)
        if content == "NOISE":
            return (torch.rand(shape),)
        return (torch.full(shape, 1.0 if content == "WHITE" else 0.0),)


class StubConstantImage:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "value": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01}),
                "height": _size(),
                "width": _size(),
                "batch_size": _size(1),
            }
        }

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "make"
    CATEGORY = "Testing/Stub Nodes"

    def make(self, value, height, width, batch_size):
        return (torch.full((batch_size, height, width, 3), float(value)),)


class StubMask:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "value": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01}),
                "height": _size(),
                "width": _size(),
                "batch_size": _size(1),
            }
        }

    RETURN_TYPES = ("MASK",)
    FUNCTION = "make"
    CATEGORY = "Testing/Stub Nodes"

    def make(self, value, height, width, batch_size):
        return (torch.full((batch_size, height, width), float(value)),)


class StubInt:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": _int(0, -0xFFFFFFFF, 0xFFFFFFFF)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "make"
    CATEGORY = "Testing/Stub Nodes"

    def make(self, value):
        return (value,)


class StubFloat:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("FLOAT", {"default": 0.0, "min": -1e38, "max": 1e38})}}

    RETURN_TYPES = ("FLOAT",)
    FUNCTION = "make"
    CATEGORY = "Testing/Stub Nodes"

    def make(self, value):
        return (value,)


# --- Lazy inputs, variadic inputs, IS_CHANGED ----------------------------------------------


class TestLazyMixImages:
    """``image1 * (1 - mask) + image2 * mask``; asks only for the images the mask needs."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image1": ("IMAGE", {"lazy": True}),
                "image2": ("IMAGE", {"lazy": True}),
                "mask": ("MASK",),
            }
        }

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "mix"
    CATEGORY = "Testing/Nodes"

    # No defaults: like ComfyUI, the engine passes unevaluated lazy inputs as None.
    def check_lazy_status(self, mask, image1, image2):
        all_zero = bool((mask == 0.0).all())
        all_one = bool((mask == 1.0).all())
        needed = []
        if image1 is None and not all_one:
            needed.append("image1")
        if image2 is None and not all_zero:
            needed.append("image2")
        return needed

    def mix(self, mask, image1, image2):
        if bool((mask == 0.0).all()):
            return (image1,)
        if bool((mask == 1.0).all()):
            return (image2,)
        weight = mask.unsqueeze(-1)  # [B, H, W] -> [B, H, W, 1], broadcast over channels
        # Mismatched image sizes raise here (case 4 relies on it).
        return (image1 * (1.0 - weight) + image2 * weight,)


class TestVariadicAverage:
    """Declares only ``input1``; ``input2``, ``input3``... arrive as undeclared kwargs."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"input1": ("IMAGE",)}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "average"
    CATEGORY = "Testing/Nodes"

    def average(self, input1, **kwargs):
        images = [input1]
        while f"input{len(images) + 1}" in kwargs:
            images.append(kwargs[f"input{len(images) + 1}"])
        return (torch.stack(images).mean(dim=0),)


class TestCustomIsChanged:
    """Passes its image through; ``should_change=True`` makes IS_CHANGED return NaN."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"image": ("IMAGE",)},
            # A custom type name with a literal value, as ComfyUI's test node has it.
            "optional": {"should_change": ("BOOL", {"default": False})},
        }

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "passthrough"
    CATEGORY = "Testing/Nodes"

    def passthrough(self, image, should_change=False):
        return (image,)

    @classmethod
    def IS_CHANGED(cls, should_change=False, **kwargs):
        return float("nan") if should_change else False


class TestIsChangedWithConstants:
    """``image * value``; records what IS_CHANGED was given (linked inputs must be None)."""

    is_changed_calls: list[dict] = []

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE",),
                "value": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0}),
            }
        }

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "scale"
    CATEGORY = "Testing/Nodes"

    def scale(self, image, value):
        return (image * value,)

    @classmethod
    def IS_CHANGED(cls, image, value):
        cls.is_changed_calls.append({"image": image, "value": value})
        return value if image is None else image.mean().item() * value


# --- VALIDATE_INPUTS in its shapes ---------------------------------------------------------


def _product(input1, input2):
    if isinstance(input1, float) and isinstance(input2, float):
        return torch.ones(1, SIZE, SIZE, 3) * input1 * input2
    return input1 * input2


def _check_values(input1, input2, allowed=(torch.Tensor, float)):
    for name, value in (("input1", input1), ("input2", input2)):
        if value is not None and not isinstance(value, allowed):
            return f"Invalid type of {name}: {type(value)}"
    return True


class TestCustomValidation1:
    """``"IMAGE,FLOAT"`` inputs; VALIDATE_INPUTS(input1, input2) checks the values."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"input1": ("IMAGE,FLOAT",), "input2": ("IMAGE,FLOAT",)}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "multiply"
    CATEGORY = "Testing/Nodes"

    def multiply(self, input1, input2):
        return (_product(input1, input2),)

    @classmethod
    def VALIDATE_INPUTS(cls, input1=None, input2=None):
        return _check_values(input1, input2)


class TestCustomValidation2:
    """Takes ``input_types``: the engine skips its link type check and reports received types."""

    received_types: list[dict] = []

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"input1": ("IMAGE,FLOAT",), "input2": ("IMAGE,FLOAT",)}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "multiply"
    CATEGORY = "Testing/Nodes"

    def multiply(self, input1, input2):
        return (_product(input1, input2),)

    @classmethod
    def VALIDATE_INPUTS(cls, input_types, input1=None, input2=None):
        cls.received_types.append(dict(input_types))
        checked = _check_values(input1, input2)
        if checked is not True:
            return checked
        for name, received in input_types.items():
            if received not in ("IMAGE", "FLOAT"):
                return f"Invalid type of {name}: {received}"
        return True


class SmartType(str):
    """A type name that matches ``"*"`` and any type set containing all of its own."""

    def __ne__(self, other):
        if self == "*" or other == "*":
            return False
        return not set(self.split(",")).issubset(set(str(other).split(",")))

    __hash__ = str.__hash__


def _smart(t):
    return SmartType(t) if isinstance(t, str) else t


def variant_support(cls):
    """Like node packs' ``VariantSupport``: SmartType specs and a generated VALIDATE_INPUTS.

    The generated validator takes ``input_types``, so the engine's built-in link
    type check is skipped and this one applies instead.
    """
    original_input_types = cls.INPUT_TYPES

    def input_types():
        spec = original_input_types()
        for section in ("required", "optional"):
            for name, value in spec.get(section, {}).items():
                if isinstance(value, tuple):
                    spec[section][name] = (_smart(value[0]),) + value[1:]
        return spec

    cls.INPUT_TYPES = staticmethod(input_types)
    cls.RETURN_TYPES = tuple(_smart(t) for t in cls.RETURN_TYPES)
    assert not hasattr(cls, "VALIDATE_INPUTS")

    def validate_inputs(input_types):
        spec = cls.INPUT_TYPES()
        for name, received in input_types.items():
            if isinstance(received, SmartType):
                continue
            expected = None
            for section in ("required", "optional"):
                if name in spec.get(section, {}):
                    expected = spec[section][name][0]
                    break
            if expected is not None and _smart(received) != expected:
                return f"Invalid type of {name}: {received} (expected {expected})"
        return True

    # A plain function set on the class, as VariantSupport does it.
    cls.VALIDATE_INPUTS = validate_inputs
    return cls


@variant_support
class TestCustomValidation3:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"input1": ("IMAGE,FLOAT",), "input2": ("IMAGE,FLOAT",)}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "multiply"
    CATEGORY = "Testing/Nodes"

    def multiply(self, input1, input2):
        return (_product(input1, input2),)


class TestCustomValidation4:
    """FLOAT inputs; VALIDATE_INPUTS(input1, input2) without ``input_types``."""

    validate_calls: list[dict] = []

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"input1": ("FLOAT",), "input2": ("FLOAT",)}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "multiply"
    CATEGORY = "Testing/Nodes"

    def multiply(self, input1, input2):
        return (torch.ones(1, SIZE, SIZE, 3) * input1 * input2,)

    @classmethod
    def VALIDATE_INPUTS(cls, input1, input2):
        cls.validate_calls.append({"input1": input1, "input2": input2})
        return _check_values(input1, input2, allowed=(float,))


class TestCustomValidation5:
    """Declares 0..1 bounds but validates with ``**kwargs``, which turns the bounds check off."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "input1": ("FLOAT", {"min": 0.0, "max": 1.0}),
                "input2": ("FLOAT", {"min": 0.0, "max": 1.0}),
            }
        }

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "multiply"
    CATEGORY = "Testing/Nodes"

    def multiply(self, input1, input2):
        return (torch.ones(1, SIZE, SIZE, 3) * (input1 * input2),)

    @classmethod
    def VALIDATE_INPUTS(cls, **kwargs):
        if kwargs["input2"] == 7.0:
            return "7 is not allowed"
        return True


# --- Expansion -----------------------------------------------------------------------------


class TestDynamicDependencyCycle:
    """Expands into two lazy mixes that feed each other: a cycle only found at run time."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"input1": ("IMAGE",), "input2": ("IMAGE",)}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "expand"
    CATEGORY = "Testing/Nodes"

    def expand(self, input1, input2):
        g = GraphBuilder()
        m = g.node("StubMask", value=0.5, height=SIZE, width=SIZE, batch_size=1)
        mix1 = g.node("TestLazyMixImages", image1=input1, mask=m.out(0))
        mix2 = g.node("TestLazyMixImages", image1=mix1.out(0), image2=input2, mask=m.out(0))
        mix1.set_input("image2", mix2.out(0))
        return {"result": (mix2.out(0),), "expand": g.finalize()}


class TestMixedExpansionReturns:
    """Per list element: a plain tuple, a ``{"result"}`` dict, or a ``{"result", "expand"}``."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"input1": ("FLOAT",)}}

    RETURN_TYPES = ("IMAGE", "IMAGE")
    FUNCTION = "mixed"
    CATEGORY = "Testing/Nodes"

    def mixed(self, input1):
        white = torch.ones(1, SIZE, SIZE, 3)
        if input1 <= 0.1:
            return (torch.ones(1, SIZE, SIZE, 3) * 0.1, white)
        if input1 <= 0.2:
            return {"result": (torch.ones(1, SIZE, SIZE, 3) * 0.2, white)}
        g = GraphBuilder()
        m = g.node("StubMask", value=0.3, height=SIZE, width=SIZE, batch_size=1)
        black = g.node("StubImage", content="BLACK", height=SIZE, width=SIZE, batch_size=1)
        whites = g.node("StubImage", content="WHITE", height=SIZE, width=SIZE, batch_size=1)
        mix = g.node("TestLazyMixImages", image1=black.out(0), image2=whites.out(0), mask=m.out(0))
        return {"result": (mix.out(0), white), "expand": g.finalize()}


class TestOutputNodeWithSocketOutput:
    """An OUTPUT_NODE that also has a socket: ``image * value``."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE",),
                "value": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0}),
            }
        }

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "scale"
    CATEGORY = "_for_testing"
    OUTPUT_NODE = True

    def scale(self, image, value):
        return (image * value,)


# --- Logic, lists, blocking --------------------------------------------------------------


class TestIntConditions:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "a": _int(),
                "b": _int(),
                "operation": (["==", "!=", "<", ">", "<=", ">="],),
            }
        }

    RETURN_TYPES = ("BOOLEAN",)
    FUNCTION = "compare"
    CATEGORY = "Testing/Logic"

    def compare(self, a, b, operation):
        ops = {
            "==": a == b,
            "!=": a != b,
            "<": a < b,
            ">": a > b,
            "<=": a <= b,
            ">=": a >= b,
        }
        return (ops[operation],)


class TestToBoolNode:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"value": ("*",)},
            "optional": {"invert": ("BOOLEAN", {"default": False})},
        }

    RETURN_TYPES = ("BOOLEAN",)
    FUNCTION = "to_bool"
    CATEGORY = "Testing/Logic"

    def to_bool(self, value, invert=False):
        if isinstance(value, torch.Tensor):
            result = bool(value.abs().max().item() != 0)
        else:
            result = bool(value)
        return (result != invert,)


class TestIntMathOperation:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "a": _int(),
                "b": _int(),
                "operation": (["add", "subtract", "multiply", "divide", "modulo", "power"],),
            }
        }

    RETURN_TYPES = ("INT",)
    FUNCTION = "compute"
    CATEGORY = "Testing/Logic"

    def compute(self, a, b, operation):
        ops = {
            "add": lambda: a + b,
            "subtract": lambda: a - b,
            "multiply": lambda: a * b,
            "divide": lambda: a // b,
            "modulo": lambda: a % b,
            "power": lambda: a**b,
        }
        return (ops[operation](),)


@variant_support
class TestMakeListNode:
    """``value1..value10`` → one list output (OUTPUT_IS_LIST)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"value1": ("*",)},
            "optional": {f"value{i}": ("*",) for i in range(2, NUM_LIST_SOCKETS + 1)},
        }

    RETURN_TYPES = ("*",)
    FUNCTION = "make_list"
    OUTPUT_IS_LIST = (True,)
    CATEGORY = "Testing/Lists"

    def make_list(self, **kwargs):
        return (
            [kwargs[f"value{i}"] for i in range(1, NUM_LIST_SOCKETS + 1) if f"value{i}" in kwargs],
        )


@variant_support
class TestExecutionBlocker:
    """Blocks its input when ``block``; silently unless ``verbose``."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "input": ("*",),
                "block": ("BOOLEAN",),
                "verbose": ("BOOLEAN", {"default": False}),
            }
        }

    RETURN_TYPES = ("*",)
    RETURN_NAMES = ("output",)
    FUNCTION = "run"
    CATEGORY = "Testing/Flow"

    def run(self, input, block, verbose):
        if block:
            return (ExecutionBlocker("Blocked Execution" if verbose else None),)
        return (input,)


# --- Loops: while loop by recursive expansion, for loop on top of it ---------------------


@variant_support
class TestWhileLoopOpen:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"condition": ("BOOLEAN", {"default": True})},
            "optional": {f"initial_value{i}": ("*",) for i in range(NUM_FLOW_SOCKETS)},
        }

    RETURN_TYPES = ("FLOW_CONTROL",) + ("*",) * NUM_FLOW_SOCKETS
    RETURN_NAMES = ("FLOW_CONTROL",) + tuple(f"value{i}" for i in range(NUM_FLOW_SOCKETS))
    FUNCTION = "open"
    CATEGORY = "Testing/Flow"

    def open(self, condition, **kwargs):
        return ("stub",) + tuple(kwargs.get(f"initial_value{i}") for i in range(NUM_FLOW_SOCKETS))


@variant_support
class TestWhileLoopClose:
    """While ``condition``, expands into a copy of the loop body (itself included)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "flow_control": ("FLOW_CONTROL", {"rawLink": True}),
                "condition": ("BOOLEAN", {"forceInput": True}),
            },
            "optional": {f"initial_value{i}": ("*",) for i in range(NUM_FLOW_SOCKETS)},
            "hidden": {"dynprompt": "DYNPROMPT", "unique_id": "UNIQUE_ID"},
        }

    RETURN_TYPES = ("*",) * NUM_FLOW_SOCKETS
    RETURN_NAMES = tuple(f"value{i}" for i in range(NUM_FLOW_SOCKETS))
    FUNCTION = "close"
    CATEGORY = "Testing/Flow"

    def close(self, flow_control, condition, dynprompt=None, unique_id=None, **kwargs):
        assert dynprompt is not None and unique_id is not None
        values = [kwargs.get(f"initial_value{i}") for i in range(NUM_FLOW_SOCKETS)]
        if not condition:
            return tuple(values)

        open_id = flow_control[0]
        body = self._between(open_id, unique_id, dynprompt)

        def local(node_id):  # a short id for our own clone, so ids don't grow each round
            return "Recurse" if node_id == unique_id else node_id

        g = GraphBuilder()
        for node_id in body:
            clone = g.node(dynprompt.get_node(node_id)["class_type"], local(node_id))
            clone.set_override_display_id(node_id)
        for node_id in body:
            clone = g.lookup_node(local(node_id))
            for name, value in dynprompt.get_node(node_id)["inputs"].items():
                if is_link(value) and value[0] in body:
                    clone.set_input(name, g.lookup_node(local(value[0])).out(value[1]))
                else:
                    clone.set_input(name, value)
        new_open = g.lookup_node(open_id)
        for i in range(NUM_FLOW_SOCKETS):
            new_open.set_input(f"initial_value{i}", values[i])
        me = g.lookup_node("Recurse")
        return {
            "result": tuple(me.out(i) for i in range(NUM_FLOW_SOCKETS)),
            "expand": g.finalize(),
        }

    @staticmethod
    def _between(open_id, close_id, dynprompt) -> list[str]:
        """Nodes downstream of ``open_id`` and upstream of ``close_id``, both included."""
        consumers: dict[str, list[str]] = {}
        stack, seen = [close_id], {close_id}
        while stack:
            node_id = stack.pop()
            for value in dynprompt.get_node(node_id)["inputs"].values():
                if is_link(value):
                    consumers.setdefault(value[0], []).append(node_id)
                    if value[0] not in seen:
                        seen.add(value[0])
                        stack.append(value[0])
        body, stack = [open_id], [open_id]
        while stack:
            for consumer in consumers.get(stack.pop(), []):
                if consumer not in body:
                    body.append(consumer)
                    stack.append(consumer)
        if close_id not in body:
            body.append(close_id)
        return body


@variant_support
class TestForLoopOpen:
    """Opens a counted loop; the count rides in ``initial_value0`` on later rounds."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"remaining": ("INT", {"default": 1, "min": 0, "max": 100000, "step": 1})},
            "optional": {f"initial_value{i}": ("*",) for i in range(1, NUM_FLOW_SOCKETS)},
            # A hidden input given by value in the prompt (set by the while-loop clone).
            "hidden": {"initial_value0": ("*",)},
        }

    RETURN_TYPES = ("FLOW_CONTROL", "INT") + ("*",) * (NUM_FLOW_SOCKETS - 1)
    RETURN_NAMES = ("flow_control", "remaining") + tuple(
        f"value{i}" for i in range(1, NUM_FLOW_SOCKETS)
    )
    FUNCTION = "open"
    CATEGORY = "Testing/Flow"

    def open(self, remaining, **kwargs):
        if "initial_value0" in kwargs:
            remaining = kwargs["initial_value0"]
        carried = [kwargs.get(f"initial_value{i}") for i in range(1, NUM_FLOW_SOCKETS)]
        g = GraphBuilder()
        g.node(
            "TestWhileLoopOpen",
            condition=remaining,
            initial_value0=remaining,
            **{f"initial_value{i}": v for i, v in enumerate(carried, 1) if v is not None},
        )
        return {"result": ("stub", remaining, *carried), "expand": g.finalize()}


@variant_support
class TestForLoopClose:
    """Closes a counted loop by expanding into ``remaining - 1`` → bool → while-loop close."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"flow_control": ("FLOW_CONTROL", {"rawLink": True})},
            "optional": {
                f"initial_value{i}": ("*", {"rawLink": True}) for i in range(1, NUM_FLOW_SOCKETS)
            },
        }

    RETURN_TYPES = ("*",) * (NUM_FLOW_SOCKETS - 1)
    RETURN_NAMES = tuple(f"value{i}" for i in range(1, NUM_FLOW_SOCKETS))
    FUNCTION = "close"
    CATEGORY = "Testing/Flow"

    def close(self, flow_control, **kwargs):
        g = GraphBuilder()
        open_id = flow_control[0]
        sub = g.node("TestIntMathOperation", operation="subtract", a=[open_id, 1], b=1)
        cond = g.node("TestToBoolNode", value=sub.out(0))
        close = g.node(
            "TestWhileLoopClose",
            flow_control=flow_control,
            condition=cond.out(0),
            initial_value0=sub.out(0),
            **{k: v for k, v in kwargs.items() if k.startswith("initial_value") and v is not None},
        )
        return {
            "result": tuple(close.out(i) for i in range(1, NUM_FLOW_SOCKETS)),
            "expand": g.finalize(),
        }


# --- Async nodes -------------------------------------------------------------------------


class TestSleep:
    """``async def``: waits ``seconds``, then passes ``value`` through."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "value": (ANY, {}),
                "seconds": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 9999.0, "step": 0.01}),
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    RETURN_TYPES = (ANY,)
    FUNCTION = "sleep"
    CATEGORY = "_for_testing"

    async def sleep(self, value, seconds, unique_id=None):
        await asyncio.sleep(seconds)
        return (value,)


class TestParallelSleep:
    """An OUTPUT_NODE that expands into three TestSleep nodes and their average."""

    @classmethod
    def INPUT_TYPES(cls):
        seconds = ("FLOAT", {"default": 0.5, "min": 0.0, "max": 10.0, "step": 0.01})
        return {
            "required": {
                "image1": ("IMAGE",),
                "image2": ("IMAGE",),
                "image3": ("IMAGE",),
                "sleep1": seconds,
                "sleep2": seconds,
                "sleep3": seconds,
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "expand"
    CATEGORY = "_for_testing"
    OUTPUT_NODE = True

    def expand(self, image1, image2, image3, sleep1, sleep2, sleep3, unique_id=None):
        g = GraphBuilder()
        s1 = g.node("TestSleep", value=image1, seconds=sleep1)
        s2 = g.node("TestSleep", value=image2, seconds=sleep2)
        s3 = g.node("TestSleep", value=image3, seconds=sleep3)
        avg = g.node("TestVariadicAverage", input1=s1.out(0), input2=s2.out(0), input3=s3.out(0))
        return {"result": (avg.out(0),), "expand": g.finalize()}


class TestAsyncValidation:
    """An ``async def VALIDATE_INPUTS``: value must not exceed threshold."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "value": ("FLOAT", {"default": 5.0}),
                "threshold": ("FLOAT", {"default": 10.0}),
            }
        }

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "make"
    CATEGORY = "_for_testing/async"

    @classmethod
    async def VALIDATE_INPUTS(cls, value, threshold):
        await asyncio.sleep(0.05)
        if value > threshold:
            return f"Value {value} exceeds threshold {threshold}"
        return True

    def make(self, value, threshold):
        return (torch.ones(1, SIZE, SIZE, 3) * (value / 10.0),)


class TestAsyncValidationError:
    """An async validator that rejects ``value > max_value``."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "value": ("FLOAT", {"default": 5.0}),
                "max_value": ("FLOAT", {"default": 10.0}),
            }
        }

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "make"
    CATEGORY = "_for_testing/async"

    @classmethod
    async def VALIDATE_INPUTS(cls, value, max_value):
        await asyncio.sleep(0.05)
        if value > max_value:
            return f"Async validation failed: {value} > {max_value}"
        return True

    def make(self, value, max_value):
        return (torch.ones(1, SIZE, SIZE, 3) * (value / max_value),)


class TestAsyncError:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "value": (ANY, {}),
                "error_after": ("FLOAT", {"default": 0.1, "min": 0.0, "max": 10.0}),
            }
        }

    RETURN_TYPES = (ANY,)
    FUNCTION = "fail"
    CATEGORY = "_for_testing/async"

    async def fail(self, value, error_after):
        await asyncio.sleep(error_after)
        raise RuntimeError("Intentional async execution error for testing")


class TestAsyncTimeout:
    """Runs an operation under ``asyncio.wait_for`` and reports a timeout as an error."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "value": (ANY, {}),
                "timeout": ("FLOAT", {"default": 1.0, "min": 0.1, "max": 10.0}),
                "operation_time": ("FLOAT", {"default": 2.0, "min": 0.1, "max": 10.0}),
            }
        }

    RETURN_TYPES = (ANY,)
    FUNCTION = "run"
    CATEGORY = "_for_testing/async"

    async def run(self, value, timeout, operation_time):
        try:
            await asyncio.wait_for(asyncio.sleep(operation_time), timeout=timeout)
        except asyncio.TimeoutError:
            raise RuntimeError(f"Operation timed out after {timeout} seconds") from None
        return (value,)


class TestSyncError:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": (ANY, {})}}

    RETURN_TYPES = (ANY,)
    FUNCTION = "fail"
    CATEGORY = "_for_testing/async"

    def fail(self, value):
        raise RuntimeError("Intentional sync execution error for testing")


class TestAsyncLazyCheck:
    """An ``async def check_lazy_status`` over two lazy inputs."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "input1": (ANY, {"lazy": True}),
                "input2": (ANY, {"lazy": True}),
                "condition": ("BOOLEAN", {"default": True}),
            }
        }

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "make"
    CATEGORY = "_for_testing/async"

    async def check_lazy_status(self, condition, input1, input2):
        await asyncio.sleep(0.05)
        needed = []
        if condition and input1 is None:
            needed.append("input1")
        if not condition and input2 is None:
            needed.append("input2")
        return needed

    def make(self, input1, input2, condition):
        return (torch.ones(1, SIZE, SIZE, 3),)


class TestDynamicAsyncGeneration:
    """Expands into ``num_async_nodes`` TestSleep nodes (alternating images) and their average."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image1": ("IMAGE",),
                "image2": ("IMAGE",),
                "num_async_nodes": ("INT", {"default": 3, "min": 1, "max": 10}),
                "sleep_duration": ("FLOAT", {"default": 0.2, "min": 0.0, "max": 1.0}),
            }
        }

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "expand"
    CATEGORY = "_for_testing/async"

    def expand(self, image1, image2, num_async_nodes, sleep_duration):
        g = GraphBuilder()
        sleeps = [
            g.node("TestSleep", value=image1 if i % 2 == 0 else image2, seconds=sleep_duration)
            for i in range(num_async_nodes)
        ]
        if len(sleeps) == 1:
            final = sleeps[0]
        else:
            final = g.node(
                "TestVariadicAverage", **{f"input{i}": s.out(0) for i, s in enumerate(sleeps, 1)}
            )
        return {"result": (final.out(0),), "expand": g.finalize()}


class TestAsyncResourceUser:
    """Holds a named resource while it sleeps; a second holder at the same time is an error."""

    active: dict[str, bool] = {}

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "value": (ANY, {}),
                "resource_id": ("STRING", {"default": "resource_0"}),
                "duration": ("FLOAT", {"default": 0.1, "min": 0.0, "max": 1.0}),
            }
        }

    RETURN_TYPES = (ANY,)
    FUNCTION = "use"
    CATEGORY = "_for_testing/async"

    async def use(self, value, resource_id, duration):
        if self.active.get(resource_id):
            raise RuntimeError(f"Resource {resource_id} is already in use!")
        self.active[resource_id] = True
        try:
            await asyncio.sleep(duration)
            return (value,)
        finally:
            self.active[resource_id] = False


# --- Stand-ins for ComfyUI's SaveImage, PreviewImage and RebatchImages ---------------------

_counter = itertools.count()


def image_records(images: torch.Tensor, folder_type: str, prefix: str) -> list[dict]:
    """Per image of the batch: what an 8-bit PNG of it would hold (as ComfyUI saves it)."""
    records = []
    for image in images:
        pixels = (image * 255.0).clamp(0, 255).to(torch.uint8)  # truncates, like astype(uint8)
        records.append(
            {
                "filename": f"{prefix}_{next(_counter):05}_.png",
                "subfolder": "",
                "type": folder_type,
                "shape": list(image.shape),
                "min": int(pixels.min()),
                "max": int(pixels.max()),
                "mean": float(pixels.float().mean()),
            }
        )
    return records


class SaveImage:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE",),
                "filename_prefix": ("STRING", {"default": "ComfyUI"}),
            },
            "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
        }

    RETURN_TYPES = ()
    FUNCTION = "save_images"
    OUTPUT_NODE = True
    CATEGORY = "image"
    folder_type = "output"

    def save_images(self, images, filename_prefix="ComfyUI", prompt=None, extra_pnginfo=None):
        return {"ui": {"images": image_records(images, self.folder_type, filename_prefix)}}


class PreviewImage(SaveImage):
    folder_type = "temp"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"images": ("IMAGE",)},
            "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
        }

    def save_images(self, images, filename_prefix="ComfyUI_temp", prompt=None, extra_pnginfo=None):
        return super().save_images(images, filename_prefix, prompt, extra_pnginfo)


class RebatchImages:
    """INPUT_IS_LIST: all incoming images, re-cut into batches of ``batch_size``."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE",),
                "batch_size": ("INT", {"default": 1, "min": 1, "max": 4096}),
            }
        }

    RETURN_TYPES = ("IMAGE",)
    INPUT_IS_LIST = True
    OUTPUT_IS_LIST = (True,)
    FUNCTION = "rebatch"
    CATEGORY = "image/batch"

    def rebatch(self, images, batch_size):
        size = batch_size[0]
        singles = [image[i : i + 1] for image in images for i in range(image.shape[0])]
        return ([torch.cat(singles[i : i + size]) for i in range(0, len(singles), size)],)


NODE_CLASS_MAPPINGS: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        StubImage,
        StubConstantImage,
        StubMask,
        StubInt,
        StubFloat,
        TestLazyMixImages,
        TestVariadicAverage,
        TestCustomIsChanged,
        TestIsChangedWithConstants,
        TestCustomValidation1,
        TestCustomValidation2,
        TestCustomValidation3,
        TestCustomValidation4,
        TestCustomValidation5,
        TestDynamicDependencyCycle,
        TestMixedExpansionReturns,
        TestOutputNodeWithSocketOutput,
        TestIntConditions,
        TestToBoolNode,
        TestIntMathOperation,
        TestMakeListNode,
        TestExecutionBlocker,
        TestWhileLoopOpen,
        TestWhileLoopClose,
        TestForLoopOpen,
        TestForLoopClose,
        TestSleep,
        TestParallelSleep,
        TestAsyncValidation,
        TestAsyncValidationError,
        TestAsyncError,
        TestAsyncTimeout,
        TestSyncError,
        TestAsyncLazyCheck,
        TestDynamicAsyncGeneration,
        TestAsyncResourceUser,
        SaveImage,
        PreviewImage,
        RebatchImages,
    )
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "StubImage": "Stub Image",
    "TestLazyMixImages": "Lazy Mix Images",
    "TestForLoopOpen": "For Loop Open",
    "TestForLoopClose": "For Loop Close",
    "TestWhileLoopOpen": "While Loop Open",
    "TestWhileLoopClose": "While Loop Close",
    "SaveImage": "Save Image",
    "PreviewImage": "Preview Image",
    "RebatchImages": "Rebatch Images",
}


def make_registry() -> NodeRegistry:
    """A registry with every stub node above."""
    registry = NodeRegistry()
    registry.load_mappings(NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS)
    return registry


# --- Node classes from a table row ---------------------------------------------------------


def v1_node(name, required=None, returns=(), output=False, optional=None, **attributes) -> type:
    """A V1 node class whose ``run`` returns its first inputs' values, one per output.

    ``attributes`` add class attributes or replace ``run``; the validation and
    fuzz tests write their node sets as tables of these.
    """
    spec = {"required": required or {}}
    if optional:
        spec["optional"] = optional
    attributes.setdefault("run", lambda self, **kw: tuple(kw.values())[: len(returns)])
    return type(
        name,
        (),
        {
            "INPUT_TYPES": classmethod(lambda cls: spec),
            "RETURN_TYPES": tuple(returns),
            "FUNCTION": "run",
            "OUTPUT_NODE": output,
            **attributes,
        },
    )


# --- Prompt literals ---------------------------------------------------------------------


def link(node_id: str, slot: int = 0) -> list:
    """The wire form of a link to ``node_id``'s output ``slot``."""
    return [node_id, slot]


def _linked(source: str | list) -> list:
    return link(source) if isinstance(source, str) else source


def node(class_type: str, **inputs: Any) -> dict:
    return {"class_type": class_type, "inputs": inputs}


def image(content: str = "BLACK", size: int = SIZE, batch_size: int = 1) -> dict:
    return node("StubImage", content=content, height=size, width=size, batch_size=batch_size)


def constant_image(value: float, size: int = SIZE) -> dict:
    return node("StubConstantImage", value=value, height=size, width=size, batch_size=1)


def mask(value: float | list, size: int = SIZE) -> dict:
    """A constant mask; ``value`` may be a link."""
    return node("StubMask", value=value, height=size, width=size, batch_size=1)


def lazy_mix(image1: str | list, image2: str | list, mask: str | list) -> dict:
    return node(
        "TestLazyMixImages", image1=_linked(image1), image2=_linked(image2), mask=_linked(mask)
    )


def sleep(value: str | list, seconds: float) -> dict:
    return node("TestSleep", value=_linked(value), seconds=seconds)


def average(*inputs: str | list) -> dict:
    return node("TestVariadicAverage", **{f"input{i}": _linked(x) for i, x in enumerate(inputs, 1)})


def make_list(*values: Any) -> dict:
    """A list node; pass ``link(id)`` for linked values, anything else is a constant."""
    return node("TestMakeListNode", **{f"value{i}": v for i, v in enumerate(values, 1)})


def save(images: str | list) -> dict:
    return node("SaveImage", images=_linked(images), filename_prefix="test")


def preview(images: str | list) -> dict:
    return node("PreviewImage", images=_linked(images))


def images_of(result, node_id: str) -> list[dict]:
    """The image records output node ``node_id`` reported in ``result`` ([] if none)."""
    return (result.outputs.get(node_id) or {}).get("images", [])


def pixel_value(result, node_id: str, index: int = 0) -> int:
    """The single 8-bit value of a uniform image (asserts it is uniform)."""
    record = images_of(result, node_id)[index]
    assert record["min"] == record["max"], f"image {index} of {node_id} is not uniform: {record}"
    return record["min"]


def assert_ok(r) -> None:
    assert r.status == "success", (r.status, r.error, r.node_errors)


def warm_up(executor) -> None:
    """One small run first, as upstream does, so start-up costs stay out of the timings."""
    assert_ok(
        executor.execute({"warm_img": image("BLACK", size=8), "warm_out": preview("warm_img")})
    )


def timed(executor, prompt: dict, **kwargs) -> tuple:
    """``executor.execute(prompt, **kwargs)`` and the seconds it took."""
    start = time.perf_counter()
    r = executor.execute(prompt, **kwargs)
    return r, time.perf_counter() - start


def record_events(executor) -> list:
    """Subscribe to ``executor`` and return the list its events are appended to."""
    events: list = []
    executor.subscribe(events.append)
    return events


def events_of(events: list, type: str) -> list[dict]:
    return [e.data for e in events if e.type == type]
