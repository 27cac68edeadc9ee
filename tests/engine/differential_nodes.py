"""Node types for the differential test (``test_differential.py``).

Small and deterministic, every value an INT, so that random edits mostly make
valid prompts. Each type exercises one thing the engine's caching must get
right:

- ``Const``, ``Add``, ``Mul``: plain arithmetic (``@node`` functions);
- ``Switch``: lazy inputs and ``check_lazy_status`` (asks only for the branch
  it returns);
- ``World``: reads ``WORLD`` (state outside the graph, a mutable global the
  code fingerprint does not see) and reports it through ``IS_CHANGED``; NaN
  for ``key % 3 == 2`` or a linked key;
- ``Offset``: reads the immutable global ``OFFSET`` (the fingerprint of the
  globals a node's code reads);
- ``Show`` (no outputs) and ``Tap`` (passes its value on): output nodes whose
  ``ui`` records their inputs: the results the test compares;
- ``Expand``: expands into ``Add``/``Mul`` nodes (and a ``Show`` for
  ``depth % 3 == 2``) with ``GraphBuilder``;
- ``Spread`` (``OUTPUT_IS_LIST``, possibly empty) and ``Total``
  (``INPUT_IS_LIST``);
- ``Fail``: raises for ``x % 10 == 7``;
- ``Block``: an ``ExecutionBlocker`` for ``x % 10`` of 3 (silent) or 4 (with
  a message);
- ``Slow``: reports ``progress.update`` ticks (where an interrupt lands mid-node);
- ``Text`` (a STRING output: linked to an INT input, a type mismatch) and
  ``Length``; ``Later``, an ``async`` node; ``Pick``, a COMBO whose choices are the global ``CHOICES`` (a
  dynamic ``INPUT_TYPES``, like a folder's files); ``Checked``, whose
  ``VALIDATE_INPUTS`` rejects 13; ``Fresh``, ``NOT_IDEMPOTENT``.

``VARIANTS`` lists, per redefinable type, the definitions a test may register
under that name: each computes something different, so a stale cache entry of
another variant shows in the results.
"""

from __future__ import annotations

import asyncio
from typing import Any

from engine import ExecutionBlocker, GraphBuilder, NodeOutput, NodeRegistry, node, progress

# State outside the graph. Tests reset it with ``reset_world()``.
WORLD = [0, 0, 0]
OFFSET = 0
WORDS = ["a", "b", "c"]  # every choice Pick may offer
CHOICES = list(WORDS)  # the choices it offers now


def reset_world() -> None:
    global OFFSET
    WORLD[:] = [0, 0, 0]
    OFFSET = 0
    CHOICES[:] = WORDS


# --- @node functions ----------------------------------------------------------------


@node(name="Const")
def const(v: int = 0) -> int:
    return v


@node(name="Add")
def add(a: int, b: int = 0) -> int:
    return a + b


@node(name="Add")
def add_plus_one(a: int, b: int = 0) -> int:
    return a + b + 1


@node(name="Add")
def add_minus(a: int, b: int = 0) -> int:
    return a - b


@node(name="Mul")
def mul(a: int, b: int = 1) -> int:
    return (a * b) % 1009


@node(name="Mul")
def mul_square(a: int, b: int = 1) -> int:
    return (a * a * b) % 1009


@node(name="Offset")
def offset(x: int) -> int:
    return x + OFFSET


@node(name="Show", output=True)
def show(x: Any, tag: int = 0, note: int | None = None) -> None:
    return NodeOutput(ui={"x": [x], "tag": [tag], "note": [note]})


@node(name="Show", output=True)
def show_v2(x: Any, tag: int = 0, note: int | None = None) -> None:
    return NodeOutput(ui={"x": [x], "tag": [tag], "note": [note], "v2": [True]})


@node(name="Fail")
def fail(x: int) -> int:
    if x % 10 == 7:
        raise ValueError(f"Fail refuses {x}")
    return x


@node(name="Slow")
def slow(x: int, steps: int = 2) -> int:
    n = steps % 4
    for i in range(n):
        progress.update(i, n)
    return x + n


@node(name="Text")
def text(n: int) -> str:
    return "abc"[: n % 4]


@node(name="Length")
def length(s: str) -> int:
    return len(s)


@node(name="Later")
async def later(x: int) -> int:
    await asyncio.sleep(0)  # suspends once: the run goes on with other nodes meanwhile
    return x + 1


@node(name="Fresh", not_idempotent=True)
def fresh(x: int) -> int:
    return x + 100


# --- V1 classes -------------------------------------------------------------------------


class Switch:
    """``on_true`` if ``select`` is odd, else ``on_false``; evaluates only that one."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "select": ("INT", {"default": 1}),
                "on_true": ("INT", {"lazy": True}),
                "on_false": ("INT", {"lazy": True}),
            }
        }

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def check_lazy_status(self, select, on_true=None, on_false=None):
        if select % 2 == 1:
            return ["on_true"] if on_true is None else []
        return ["on_false"] if on_false is None else []

    def run(self, select, on_true=None, on_false=None):
        return (on_true if select % 2 == 1 else on_false,)


class SwitchInverted:
    """``Switch`` redefined: odd picks ``on_false``."""

    @classmethod
    def INPUT_TYPES(cls):
        return Switch.INPUT_TYPES()

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def check_lazy_status(self, select, on_true=None, on_false=None):
        if select % 2 == 0:
            return ["on_true"] if on_true is None else []
        return ["on_false"] if on_false is None else []

    def run(self, select, on_true=None, on_false=None):
        return (on_true if select % 2 == 0 else on_false,)


class World:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("INT",), "key": ("INT", {"default": 0})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, x, key):
        return (x + WORLD[key % 3],)

    @classmethod
    def IS_CHANGED(cls, x=None, key=None):
        if key is None or key % 3 == 2:  # a linked key is unknown before the run
            return float("nan")
        return WORLD[key % 3]


class Tap:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("INT",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    OUTPUT_NODE = True

    def run(self, x):
        return {"ui": {"tap": [x]}, "result": (x,)}


class Expand:
    """``Mul(Add(...Add(x, 1)..., k), 2)`` with ``depth % 3 + 1`` adds, as a subgraph."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("INT",), "depth": ("INT", {"default": 1})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, x, depth):
        graph = GraphBuilder()
        value: Any = x
        for i in range(depth % 3 + 1):
            value = graph.node("Add", a=value, b=i + 1).out(0)
        if depth % 3 == 2:
            graph.node("Show", x=value, tag=-1)  # an output node inside the expansion
        value = graph.node("Mul", a=value, b=2).out(0)
        return {"result": (value,), "expand": graph.finalize()}


class Spread:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("INT",), "n": ("INT", {"default": 2})}}

    RETURN_TYPES = ("INT",)
    OUTPUT_IS_LIST = (True,)
    FUNCTION = "run"

    def run(self, x, n):
        return ([x + i for i in range(n % 4)],)


class Total:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"values": ("INT",)}}

    RETURN_TYPES = ("INT",)
    INPUT_IS_LIST = True
    FUNCTION = "run"

    def run(self, values):
        return (sum(values),)


class Block:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("INT",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, x):
        if x % 10 == 3:
            return (ExecutionBlocker(None),)
        if x % 10 == 4:
            return (ExecutionBlocker(f"Block stops {x}"),)
        return (x,)


class Pick:
    """The index of ``name`` among ``WORDS``; offers only the ``CHOICES`` of the moment."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"name": (list(CHOICES),)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, name):
        return (WORDS.index(name),)


class Checked:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("INT",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, x):
        return (-x,)

    @classmethod
    def VALIDATE_INPUTS(cls, x):
        return x != 13 or "13 is unlucky"  # a linked x is None: valid


# The definitions each type starts with, and the ones a test may swap in.
VARIANTS: dict[str, list] = {
    "Const": [const],
    "Add": [add, add_plus_one, add_minus],
    "Mul": [mul, mul_square],
    "Offset": [offset],
    "Show": [show, show_v2],
    "Fail": [fail],
    "Slow": [slow],
    "Switch": [Switch, SwitchInverted],
    "World": [World],
    "Tap": [Tap],
    "Expand": [Expand],
    "Spread": [Spread],
    "Total": [Total],
    "Block": [Block],
    "Text": [text],
    "Length": [length],
    "Fresh": [fresh],
    "Later": [later],
    "Pick": [Pick],
    "Checked": [Checked],
}


def make_registry() -> NodeRegistry:
    """A registry of every type, each in its first variant."""
    registry = NodeRegistry()
    for name, variants in VARIANTS.items():
        registry.register(variants[0], name=name)
    return registry
