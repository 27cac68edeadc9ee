"""A ``@node`` function's return values are checked against its declared output types.

A wrong value fails the node that returned it (``r.error["node_id"]``), naming
it and what it returned, instead of the node downstream that could not use it.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import numpy as np
import pytest
import torch

from engine import (
    ExecutionBlocker,
    Executor,
    Image,
    IOType,
    Latent,
    Mask,
    NodeOutput,
    NodeRegistry,
    node,
)
from engine.nodedef import OutputTypeError


@dataclasses.dataclass
class Settings:
    gain: float


def make(declared, value):
    """A registry with ``produce`` (declared output type, returning ``value``) and a consumer."""

    def produce(n: int = 0):
        return value

    produce.__annotations__["return"] = declared  # a hint from a variable
    node(produce)

    @node(output=True)
    def consume(value: Any) -> None:
        pass

    registry = NodeRegistry()
    registry.register(produce)
    registry.register(consume)
    return registry


PROMPT = {
    "p": {"class_type": "produce", "inputs": {"n": 1}},
    "c": {"class_type": "consume", "inputs": {"value": ["p", 0]}},
}

WRONG = [
    (
        Image,
        "cat.png",
        "str 'cat.png'",
        "an IMAGE is a float tensor [batch, height, width, channels]",
    ),
    (Image, torch.zeros(4, 4, 3), "float32 tensor of shape [4, 4, 3]", "an IMAGE is"),
    (Image, torch.zeros(1, 4, 4, 3, dtype=torch.uint8), "uint8 tensor", "an IMAGE is"),
    (Image, np.zeros((1, 4, 4, 3), np.float32), "numpy.ndarray of shape [1, 4, 4, 3]", "an IMAGE"),
    (Image, None, "NoneType None", "an IMAGE is"),
    (Mask, torch.zeros(1, 4, 4, 1), "tensor of shape [1, 4, 4, 1]", "a MASK is a float tensor"),
    (
        Latent,
        torch.zeros(1, 4, 8, 8),
        "tensor of shape [1, 4, 8, 8]",
        'a LATENT is a dict with "samples"',
    ),
    (int, "3", "str '3'", "an INT is an int"),
    (int, True, "bool True", "an INT is an int"),
    (int, 2.5, "float 2.5", "an INT is an int"),
    (float, "0.5", "str '0.5'", "a FLOAT is a number"),
    (str, 3, "int 3", "a STRING is a str"),
    (bool, 1, "int 1", "a BOOLEAN is a bool"),
]


@pytest.mark.parametrize(("declared", "value", "shown", "expected"), WRONG)
def test_a_wrong_return_value_fails_the_node_that_returned_it(declared, value, shown, expected):
    r = Executor(make(declared, value)).execute(PROMPT)
    assert r.status == "error"
    assert r.error["node_id"] == "p" and r.error["node_type"] == "produce"
    assert r.error["exception_type"] == "engine.nodedef.OutputTypeError"
    message = r.error["exception_message"]
    assert message.startswith("node p (produce) returned ")
    assert shown in message and expected in message
    assert "c" not in r.executed  # the consumer never got the value


RIGHT = [
    (Image, torch.rand(1, 4, 4, 3)),
    (Image, torch.rand(2, 4, 4, 4, dtype=torch.float16)),
    (Mask, torch.rand(4, 4)),
    (Mask, torch.rand(1, 4, 4)),
    (Latent, {"samples": torch.zeros(1, 4, 8, 8)}),
    (int, 3),
    (int, np.int64(3)),
    (float, 2),
    (float, np.float32(0.5)),
    (str, ""),
    (bool, False),
    (Annotated[Any, IOType("MODEL")], "anything: MODEL is not checked"),
    (Settings, "a SETTINGS is a pack's own type: not checked"),
    (Any, None),
]


@pytest.mark.parametrize(("declared", "value"), RIGHT)
def test_values_of_the_declared_type_pass(declared, value):
    r = Executor(make(declared, value)).execute(PROMPT)
    assert r.status == "success", r.error
    assert r.executed == {"p", "c"}


def test_tuples_node_outputs_blockers_and_async_nodes_are_checked_per_slot():
    @node
    def pair(n: int = 0) -> tuple[Image, int]:
        return torch.zeros(1, 2, 2, 3), "two"

    @node
    def with_ui(n: int = 0) -> Image:
        return NodeOutput("not an image", ui={"text": ["hi"]})

    @node
    def blocked(n: int = 0) -> Image:
        return ExecutionBlocker(None)

    @node
    async def later(n: int = 0) -> Mask:
        return [0.0]

    registry = NodeRegistry()
    for fn in (pair, with_ui, blocked, later):
        registry.register(fn)
    executor = Executor(registry)

    r = executor.execute({"x": {"class_type": "pair", "inputs": {"n": 0}}}, outputs=["x"])
    assert r.error["node_id"] == "x"
    assert "returned str 'two' as output 1 'INT'; an INT is an int" in r.error["exception_message"]

    r = executor.execute({"u": {"class_type": "with_ui", "inputs": {"n": 0}}}, outputs=["u"])
    assert r.error["node_id"] == "u" and "str 'not an image'" in r.error["exception_message"]

    r = executor.execute({"b": {"class_type": "blocked", "inputs": {"n": 0}}}, outputs=["b"])
    assert r.status == "success"  # a blocker stands for any type

    r = executor.execute({"a": {"class_type": "later", "inputs": {"n": 0}}}, outputs=["a"])
    assert r.error["node_id"] == "a"
    assert r.error["exception_message"].startswith("node a (later) returned list [0.0]")


def test_an_expansion_is_not_checked_its_nodes_are():
    @node
    def inner(n: int = 0) -> Image:
        return "inner image"

    @node
    def outer(n: int = 0) -> Image:
        # The values of an expansion are links into its subgraph, not images.
        graph = {"in": {"class_type": "inner", "inputs": {"n": n}}}
        return NodeOutput(["in", 0], expand=graph)

    registry = NodeRegistry()
    registry.register(inner)
    registry.register(outer)
    r = Executor(registry).execute(
        {"o": {"class_type": "outer", "inputs": {"n": 1}}}, outputs=["o"]
    )
    assert r.status == "error"
    assert "(inner) returned str 'inner image'" in r.error["exception_message"]


def test_calling_the_generated_class_outside_a_run_names_the_node_type():
    @node
    def bad(n: int = 0) -> Image:
        return "x"

    with pytest.raises(OutputTypeError, match=r"^node bad returned str 'x' as output 0 'IMAGE'"):
        bad.__node_class__.run(n=0)
    assert bad(n=0) == "x"  # the function itself stays as it was
