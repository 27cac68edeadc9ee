"""The node API: ``@node`` functions, the registry, ``object_info``, and redefinition.

Redefining a node type (a notebook cell run again) must rerun exactly the nodes
of that type and what is downstream of them; re-running the cell with the same
code must keep the cache.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Literal

import pytest

from engine import Executor, Image, Mask, NodeOutput, NodeRegistry, Range, node

# --- @node: type hints become the spec ---------------------------------------


def f_int(x: int) -> int:
    return x


def f_float(x: float = 0.5) -> float:
    return x


def f_str(s: str) -> str:
    return s


def f_bool(flag: bool = True) -> bool:
    return flag


def f_literal(mode: Literal["fast", "slow"] = "fast") -> str:
    return mode


def f_range(radius: Annotated[float, Range(0, 64, step=0.5)] = 2.0) -> float:
    return radius


def f_image(image: Image, mask: Mask) -> Image:
    return image


def f_optional(x: int, y: int | None = None) -> int:
    return x if y is None else x + y


def f_two(x: int) -> tuple[int, str]:
    return x, str(x)


def f_none(x: int) -> None:
    return None


# fmt: off
HINTS = [
    # (function, expected input spec by section, expected output types)
    (f_int, {"required": {"x": ["INT"]}}, ["INT"]),
    (f_float, {"required": {"x": ["FLOAT", {"default": 0.5}]}}, ["FLOAT"]),
    (f_str, {"required": {"s": ["STRING"]}}, ["STRING"]),
    (f_bool, {"required": {"flag": ["BOOLEAN", {"default": True}]}}, ["BOOLEAN"]),
    (f_literal, {"required": {"mode": [["fast", "slow"], {"default": "fast"}]}}, ["STRING"]),
    (f_range, {"required": {"radius": ["FLOAT", {"min": 0, "max": 64, "step": 0.5, "default": 2.0}]}},
     ["FLOAT"]),
    (f_image, {"required": {"image": ["IMAGE"], "mask": ["MASK"]}}, ["IMAGE"]),
    (f_optional, {"required": {"x": ["INT"]}, "optional": {"y": ["INT"]}}, ["INT"]),
    (f_two, {"required": {"x": ["INT"]}}, ["INT", "STRING"]),
    (f_none, {"required": {"x": ["INT"]}}, []),
]
# fmt: on


def sections(spec: dict) -> dict:
    return {k: v for k, v in spec.items() if k in ("required", "optional") and v}


@pytest.mark.parametrize(
    "fn, inputs, outputs", [pytest.param(f, i, o, id=f.__name__) for f, i, o in HINTS]
)
def test_type_hints_become_the_spec(fn, inputs, outputs):
    reg = NodeRegistry()
    assert reg.register(node(fn)) is fn
    info = reg.object_info()[fn.__name__]
    assert sections(info["input"]) == inputs
    assert info["output"] == outputs
    assert len(info["output_name"]) == len(outputs)
    assert info["output_is_list"] == [False] * len(outputs)
    assert info["output_node"] is False


def test_node_options_and_docstring():
    @node(output=True, category="math/pairs", returns=("low", "high"))
    def split(x: int) -> tuple[int, int]:
        """Split x into two halves."""
        return x // 2, x - x // 2

    reg = NodeRegistry()
    reg.register(split)
    info = reg.object_info()["split"]
    assert info["output_node"] is True
    assert info["category"] == "math/pairs"
    assert info["output_name"] == ["low", "high"]
    assert info["output"] == ["INT", "INT"]
    assert info["description"] == "Split x into two halves."
    assert info["display_name"] == "split"


def test_decorated_function_stays_callable():
    @node
    def add(a: int, b: Annotated[int, Range(0, 10)] = 1) -> int:
        return a + b

    @node(category="x")
    def pair(x: int) -> tuple[int, str]:
        return x, str(x)

    assert add(2, 3) == 5
    assert add(2) == 3
    assert pair(4) == (4, "4")
    reg = NodeRegistry()
    assert reg.register(add) is add
    assert add(a=1, b=1) == 2


def test_plain_function_registers_like_a_node():
    def mul(a: int, b: int = 2) -> int:
        return a * b

    reg = NodeRegistry()
    reg.register(mul, name="Multiply")
    info = reg.object_info()["Multiply"]
    assert info["name"] == "Multiply"
    assert sections(info["input"]) == {"required": {"a": ["INT"], "b": ["INT", {"default": 2}]}}
    assert mul(3) == 6


# --- running function nodes --------------------------------------------------


@node(output=True)
def show(value) -> None:
    return NodeOutput(ui={"value": [value]})


@node
async def slow_double(x: int) -> int:
    await asyncio.sleep(0.01)
    return x * 2


@node(output=True)
def stats(x: int) -> tuple[int, int]:
    return NodeOutput(x + 1, x * 2, ui={"text": [f"x={x}"]})


@pytest.fixture
def fn_reg() -> NodeRegistry:
    reg = NodeRegistry()
    for fn in (show, slow_double, stats):
        reg.register(fn)
    return reg


def test_async_function_node_runs(fn_reg, cache_mode):
    ex = Executor(fn_reg, cache=cache_mode)
    prompt = {
        "1": {"class_type": "slow_double", "inputs": {"x": 21}},
        "2": {"class_type": "show", "inputs": {"value": ["1", 0]}},
    }
    r = ex.execute(prompt)
    assert r.status == "success", r.error
    assert r.executed == {"1", "2"}
    assert r.outputs["2"] == {"value": [42]}
    assert asyncio.run(slow_double(2)) == 4  # still a coroutine function


def test_node_output_with_ui_and_values(fn_reg, cache_mode):
    ex = Executor(fn_reg, cache=cache_mode)
    prompt = {
        "1": {"class_type": "stats", "inputs": {"x": 3}},
        "2": {"class_type": "show", "inputs": {"value": ["1", 0]}},
        "3": {"class_type": "show", "inputs": {"value": ["1", 1]}},
    }
    r = ex.execute(prompt)
    assert r.status == "success", r.error
    assert r.outputs == {"1": {"text": ["x=3"]}, "2": {"value": [4]}, "3": {"value": [6]}}
    again = ex.execute(prompt)
    assert again.outputs == r.outputs  # cached output nodes still report their ui


# --- the registry ------------------------------------------------------------


class AddV1:
    DESCRIPTION = "Adds two numbers."
    CATEGORY = "math"
    RETURN_TYPES = ("INT",)
    RETURN_NAMES = ("sum",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"a": ("INT", {"default": 0, "min": -10, "max": 10}), "b": ("INT",)},
            "optional": {"c": ("INT", {"default": 0})},
            "hidden": {"uid": "UNIQUE_ID"},
        }

    def run(self, a, b, c=0, uid=None):
        return (a + b + c,)


class SaveV1:
    CATEGORY = "io"
    RETURN_TYPES = ()
    FUNCTION = "save"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("*",), "mode": (["png", "jpg"], {"default": "png"})}}

    def save(self, value, mode):
        return {"ui": {"saved": [value]}}


class ListV1:
    RETURN_TYPES = ("INT", "STRING")
    OUTPUT_IS_LIST = (True, False)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    def run(self):
        return ([1, 2], "x")


# fmt: off
OBJECT_INFO_KEYS = {
    "input", "input_order", "output", "output_is_list", "output_name", "name",
    "display_name", "description", "python_module", "category", "output_node",
}
# fmt: on


def test_register_returns_the_class_and_replaces_by_name():
    reg = NodeRegistry()
    assert reg.register(AddV1, name="Add") is AddV1
    assert "Add" in reg and len(reg) == 1
    assert reg.get("Add").cls is AddV1
    reg.register(SaveV1, name="Add")
    assert len(reg) == 1
    assert reg.get("Add").cls is SaveV1
    assert reg.object_info()["Add"]["output_node"] is True


def test_load_mappings_and_object_info_shape():
    reg = NodeRegistry()
    reg.load_mappings({"Add": AddV1, "Save": SaveV1, "List": ListV1}, {"Add": "Add numbers"})
    info = reg.object_info()
    assert set(info) == {"Add", "Save", "List"}
    json.dumps(info)  # crosses to the browser as JSON
    for name, entry in info.items():
        assert set(entry) >= OBJECT_INFO_KEYS, name
        assert entry["name"] == name

    add = info["Add"]
    assert add["display_name"] == "Add numbers"
    assert add["description"] == "Adds two numbers."
    assert add["category"] == "math"
    assert add["output"] == ["INT"]
    assert add["output_name"] == ["sum"]
    assert add["output_is_list"] == [False]
    assert add["output_node"] is False
    assert add["input_order"] == {"required": ["a", "b"], "optional": ["c"], "hidden": ["uid"]}
    assert add["input"]["required"]["a"] == ["INT", {"default": 0, "min": -10, "max": 10}]
    assert add["python_module"] == AddV1.__module__

    save = info["Save"]
    assert save["display_name"] == "Save"  # no mapping: the type name
    assert save["output_node"] is True
    assert save["output"] == []
    assert save["input"]["required"]["mode"] == [["png", "jpg"], {"default": "png"}]

    assert info["List"]["output_is_list"] == [True, False]
    assert reg.object_info("Add") == {"Add": add}


# --- redefining a node type --------------------------------------------------

CALLS: list[str] = []


@node
def source(value: int) -> int:
    CALLS.append("source")
    return value


@node(output=True)
def sink(value: int) -> None:
    CALLS.append("sink")
    return NodeOutput(ui={"value": [value]})


def make_mid(kind: str, delta: int):
    """A fresh definition of the node type "Mid", as a notebook cell would make it."""
    if kind == "function":
        source_code = f"def mid(x: int) -> int:\n    CALLS.append('mid')\n    return x + {delta}\n"
        namespace = {"CALLS": CALLS}
        exec(source_code, namespace)
        return namespace["mid"]
    source_code = (
        "class Mid:\n"
        "    RETURN_TYPES = ('INT',)\n"
        "    FUNCTION = 'run'\n"
        "    @classmethod\n"
        "    def INPUT_TYPES(cls):\n"
        "        return {'required': {'x': ('INT',)}}\n"
        "    def run(self, x):\n"
        "        CALLS.append('mid')\n"
        f"        return (x + {delta},)\n"
    )
    namespace = {"CALLS": CALLS, "__name__": "cell"}
    exec(source_code, namespace)
    return namespace["Mid"]


# src1 -> mid1 -> out1;  src2 -> mid2 -> out2;  src1 -> side;  src3 -> out3
REDEFINE_PROMPT = {
    "src1": {"class_type": "source", "inputs": {"value": 1}},
    "mid1": {"class_type": "Mid", "inputs": {"x": ["src1", 0]}},
    "out1": {"class_type": "sink", "inputs": {"value": ["mid1", 0]}},
    "src2": {"class_type": "source", "inputs": {"value": 2}},
    "mid2": {"class_type": "Mid", "inputs": {"x": ["src2", 0]}},
    "out2": {"class_type": "sink", "inputs": {"value": ["mid2", 0]}},
    "side": {"class_type": "sink", "inputs": {"value": ["src1", 0]}},
    "src3": {"class_type": "source", "inputs": {"value": 3}},
    "out3": {"class_type": "sink", "inputs": {"value": ["src3", 0]}},
}
ALL = set(REDEFINE_PROMPT)
MID_AND_BELOW = {"mid1", "out1", "mid2", "out2"}


@pytest.fixture(params=["function", "class"])
def mid_kind(request) -> str:
    return request.param


def redefine_setup(cache_mode, mid_kind):
    reg = NodeRegistry()
    reg.register(source)
    reg.register(sink)
    reg.register(make_mid(mid_kind, 10), name="Mid")
    ex = Executor(reg, cache=cache_mode)
    r = ex.execute(REDEFINE_PROMPT)
    assert r.status == "success", r.error
    assert r.executed == ALL
    assert r.outputs["out1"] == {"value": [11]}
    return reg, ex


def test_redefined_node_type_reruns_it_and_its_descendants(cache_mode, mid_kind):
    reg, ex = redefine_setup(cache_mode, mid_kind)
    reg.register(make_mid(mid_kind, 100), name="Mid")
    CALLS.clear()
    r = ex.execute(REDEFINE_PROMPT)
    assert r.status == "success", r.error
    if cache_mode == "none":  # nothing is kept: everything reruns
        assert r.executed == ALL
        assert r.cached == set()
    else:
        assert r.executed == MID_AND_BELOW
        assert r.cached == ALL - MID_AND_BELOW
        assert sorted(CALLS) == ["mid", "mid", "sink", "sink"]
    assert r.outputs["out1"] == {"value": [101]}
    assert r.outputs["out2"] == {"value": [102]}
    assert r.outputs["side"] == {"value": [1]}
    assert r.outputs["out3"] == {"value": [3]}


def test_redefining_with_identical_code_keeps_the_cache(cache_mode, mid_kind):
    reg, ex = redefine_setup(cache_mode, mid_kind)
    reg.register(make_mid(mid_kind, 10), name="Mid")  # the same cell run again
    CALLS.clear()
    r = ex.execute(REDEFINE_PROMPT)
    assert r.status == "success", r.error
    if cache_mode == "none":
        assert r.executed == ALL
    else:
        assert r.executed == set()
        assert r.cached == ALL
        assert CALLS == []
    assert r.outputs["out1"] == {"value": [11]}
    assert r.outputs["out3"] == {"value": [3]}


def test_redefining_an_unused_type_keeps_the_cache(cache_mode):
    reg, ex = redefine_setup(cache_mode, "function")
    reg.register(f_int, name="Unused")
    r = ex.execute(REDEFINE_PROMPT)
    assert r.status == "success", r.error
    assert r.executed == (ALL if cache_mode == "none" else set())


def test_input_types_is_called_once_per_class_per_run():
    """INPUT_TYPES() may list a folder (LoadImage): validation and the run share one call."""
    calls = []

    class Listed:
        @classmethod
        def INPUT_TYPES(cls):
            calls.append(1)
            return {"required": {"x": ("INT", {"default": 1})}}

        RETURN_TYPES = ("INT",)
        FUNCTION = "run"
        OUTPUT_NODE = True

        def run(self, x):
            return (x,)

    registry = NodeRegistry()
    registry.load_mappings({"Listed": Listed})
    ex = Executor(registry)
    prompt = {str(i): {"class_type": "Listed", "inputs": {"x": i}} for i in range(3)}
    for _ in range(3):  # cold, learning, and fully cached
        calls.clear()
        assert ex.execute(prompt).ok
        assert len(calls) == 1
