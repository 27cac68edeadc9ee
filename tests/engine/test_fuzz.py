"""Malformed prompts never crash the engine.

Hypothesis builds prompts from a small node set, then breaks them: wrong
shapes, bad links, cycles, unknown types, huge or non-finite numbers and
values that are not JSON at all. ``validate_prompt`` and ``Executor.execute``
must return a structured result (never raise), and the executor must still run
a known-good prompt correctly afterwards.
"""

from __future__ import annotations

import asyncio
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import ExecutionBlocker, Executor, GraphBuilder, NodeRegistry, validate_prompt

from .stubs import v1_node

VALIDATION_ERROR_KEYS = {"type", "message", "details", "extra_info"}
RUNTIME_ERROR_KEYS = {
    "node_id",
    "node_type",
    "exception_type",
    "exception_message",
    "traceback",
    "current_inputs",
}
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# --- stub nodes ------------------------------------------------------------


def _lazy_status(self, a=None, b=None):
    return ["a"] if a is None else []


async def _async_run(self, value):
    await asyncio.sleep(0)
    return (value,)


def _expand(self, value):
    graph = GraphBuilder()
    inner = graph.node("Any", value=value)
    return {"result": (inner.out(0),), "expand": graph.finalize()}


def _validate(cls, value):
    return value > 0  # raises on values that do not compare with ints


def _fail(self, value):
    raise RuntimeError("node failed on purpose")


# fmt: off
NODES = {
    "Int": v1_node("Int", {"value": ("INT", {"default": 0})}, ("INT",)),
    "Bounded": v1_node("Bounded", {"value": ("INT", {"default": 0, "min": 0, "max": 100})}, ("INT",)),
    "Float": v1_node("Float", {"value": ("FLOAT", {"default": 0.0, "min": -1.0, "max": 1.0})}, ("FLOAT",)),
    "Str": v1_node("Str", {"value": ("STRING", {"default": ""})}, ("STRING",)),
    "Bool": v1_node("Bool", {"value": ("BOOLEAN", {"default": False})}, ("BOOLEAN",)),
    "Choice": v1_node("Choice", {"value": (["a", "b"],)}, ("STRING",)),
    "Add": v1_node("Add", {"a": ("INT",), "b": ("INT",)}, ("INT",), run=lambda self, a, b: (a + b,)),
    "Any": v1_node("Any", {"value": ("*",)}, ("*",)),
    "Pair": v1_node("Pair", {"value": ("*",)}, ("*", "STRING"), run=lambda self, value: (value, "s")),
    "Show": v1_node("Show", {"value": ("*",)}, output=True,
                    run=lambda self, value: {"ui": {"value": [value]}, "result": ()}),
    "Lazy": v1_node("Lazy", optional={"a": ("*", {"lazy": True}), "b": ("*", {"lazy": True})},
                    returns=("*",), check_lazy_status=_lazy_status, run=lambda self, a=None, b=None: (a,)),
    "ListOut": v1_node("ListOut", {"value": ("*",)}, ("*",), OUTPUT_IS_LIST=(True,),
                       run=lambda self, value: ([value, value],)),
    "ListIn": v1_node("ListIn", {"value": ("*",)}, ("INT",), INPUT_IS_LIST=True,
                      run=lambda self, value: (len(value),)),
    "Fail": v1_node("Fail", {"value": ("*",)}, ("*",), run=_fail),
    "Block": v1_node("Block", {"value": ("*",), "block": ("BOOLEAN",)}, ("*",),
                     run=lambda self, value, block: (ExecutionBlocker("blocked") if block else value,)),
    "Checked": v1_node("Checked", {"value": ("*",)}, ("*",), VALIDATE_INPUTS=classmethod(_validate)),
    "Changing": v1_node("Changing", {"value": ("*",)}, ("*",), IS_CHANGED=classmethod(lambda cls, value: math.nan)),
    "Async": v1_node("Async", {"value": ("*",)}, ("*",), run=_async_run),
    "Expand": v1_node("Expand", {"value": ("*",)}, ("*",), run=_expand),
}
# fmt: on
TYPES = sorted(NODES)


def make_registry() -> NodeRegistry:
    reg = NodeRegistry()
    reg.load_mappings(NODES)
    return reg


REGISTRY = make_registry()


# --- strategies --------------------------------------------------------------

# Beyond 4300 digits an int has no repr (hypothesis could not print it): see BROKEN below.
# fmt: off
SPECIAL = [
    10**400, -(10**400), 10**4000, 2**63, -(2**63) - 1, 1e308, -1e308, float("inf"),
    float("-inf"), float("nan"), -0.0, 5e-324, "", "\x00", "\ud800", "5", "nan", "1e999",
]
# fmt: on
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.binary(max_size=4),
    st.sampled_from(SPECIAL),
    st.builds(object),
    st.just(Ellipsis),
    st.just(int),
)
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.text(max_size=3), st.integers()), inner, max_size=3),
        st.frozensets(st.integers(), max_size=3),
        st.sets(st.text(max_size=2), max_size=3),
        st.tuples(inner, inner),
    ),
    max_leaves=6,
)


def good_value(input_type):
    if input_type == "INT":
        return st.integers(-5, 5)
    if input_type == "FLOAT":
        return st.floats(-1, 1)
    if input_type == "STRING":
        return st.text(max_size=4)
    if input_type == "BOOLEAN":
        return st.booleans()
    if isinstance(input_type, list):
        return st.sampled_from(input_type)
    return st.integers(0, 3)


def link(ids):
    source = st.one_of(
        st.sampled_from(ids), st.sampled_from(["missing", "", "0:1"]), st.integers(-1, 9), junk
    )
    slot = st.one_of(
        st.integers(-1, 2), st.sampled_from([0.0, 1.5, math.nan, True, None, "0", 2**70]), junk
    )
    return st.one_of(
        st.tuples(st.sampled_from(ids), st.integers(0, 1)).map(list),  # a plausible link
        st.tuples(source, slot).map(list),
        st.lists(st.one_of(st.sampled_from(ids), st.integers(0, 1)), max_size=4),  # wrong length
    )


@st.composite
def prompts(draw):
    """Mostly well-formed prompts with a few broken parts (so that many get past validation)."""
    ids = [str(i) for i in range(draw(st.integers(1, 6)))]
    prompt: dict = {}
    for node_id in ids:
        # The only output node type is drawn often, or most prompts would have no outputs.
        class_type = draw(st.one_of(st.just("Show"), st.sampled_from(TYPES)))
        spec = NODES[class_type].INPUT_TYPES()
        inputs: dict = {}
        for section in ("required", "optional"):
            for name, (input_type, *_) in spec.get(section, {}).items():
                how = draw(
                    st.sampled_from(["link", "link", "link", "good", "good", "junk", "missing"])
                )
                if how == "link":
                    inputs[name] = draw(link(ids))
                elif how == "good":
                    inputs[name] = draw(good_value(input_type))
                elif how == "junk":
                    inputs[name] = draw(junk)
        if draw(st.sampled_from([False] * 5 + [True])):  # undeclared inputs, links or constants
            inputs[draw(st.one_of(st.text(max_size=3), st.integers()))] = draw(
                st.one_of(link(ids), junk)
            )
        node: object = {"class_type": class_type, "inputs": inputs}
        breakage = draw(st.sampled_from(["none"] * 12 + ["junk", "class", "inputs", "no class"]))
        if breakage == "junk":
            node = draw(junk)  # not a node at all
        elif breakage == "class":
            node = {"class_type": draw(st.one_of(junk, st.just("NoSuchNode"))), "inputs": inputs}
        elif breakage == "inputs":
            node = {"class_type": class_type, "inputs": draw(junk)}
        elif breakage == "no class":
            node = {"inputs": inputs}
        prompt[node_id] = node
    whole = draw(st.sampled_from(["dict"] * 20 + ["bad id", "junk"]))
    if whole == "bad id":
        prompt[draw(st.one_of(st.integers(), st.none(), st.tuples(st.integers())))] = {
            "class_type": "Int",
            "inputs": {"value": 1},
        }
    elif whole == "junk":
        return draw(junk)  # not even a dict
    return prompt


def targets(prompt):
    ids = list(prompt) if isinstance(prompt, dict) else []
    plausible = st.lists(st.sampled_from(ids), max_size=3) if ids else st.just([])
    broken = st.one_of(st.lists(st.one_of(st.sampled_from(ids or ["x"]), junk), max_size=3), junk)
    return st.sampled_from(["all", "all", "all", "plausible", "broken"]).flatmap(
        lambda how: st.none() if how == "all" else plausible if how == "plausible" else broken
    )


@st.composite
def prompt_and_targets(draw):
    prompt = draw(prompts())
    return prompt, draw(targets(prompt))


# --- checks --------------------------------------------------------------------


def check_validation_error(error):
    assert isinstance(error, dict)
    assert set(error) == VALIDATION_ERROR_KEYS, error
    assert isinstance(error["type"], str)
    assert isinstance(error["message"], str)
    assert isinstance(error["extra_info"], dict)


def check_node_errors(node_errors):
    assert isinstance(node_errors, dict)
    for entry in node_errors.values():
        assert {"errors", "dependent_outputs", "class_type"} <= set(entry)
        assert entry["errors"]
        for e in entry["errors"]:
            check_validation_error(e)


def check_result(r):
    assert r.status in ("success", "error", "invalid"), r.status
    if r.status == "invalid":
        check_validation_error(r.error)
    elif r.status == "error":
        assert set(r.error) >= RUNTIME_ERROR_KEYS, r.error
        assert isinstance(r.error["traceback"], list)
    else:
        assert r.error is None
    check_node_errors(r.node_errors or {})
    assert isinstance(r.executed, set)
    assert isinstance(r.cached, set)
    assert isinstance(r.outputs, dict)


GOOD_PROMPT = {
    "g1": {"class_type": "Int", "inputs": {"value": 3}},
    "g2": {"class_type": "Add", "inputs": {"a": ["g1", 0], "b": 4}},
    "g3": {"class_type": "Show", "inputs": {"value": ["g2", 0]}},
    "g4": {"class_type": "Expand", "inputs": {"value": ["g2", 0]}},
    "g5": {"class_type": "Show", "inputs": {"value": ["g4", 0]}},
}


def check_still_works(ex, b):
    prompt = {**GOOD_PROMPT, "g2": {"class_type": "Add", "inputs": {"a": ["g1", 0], "b": b}}}
    r = ex.execute(prompt)
    assert r.status == "success", r.error or r.node_errors
    assert r.outputs["g3"] == {"value": [3 + b]}
    assert r.outputs["g5"] == {"value": [3 + b]}
    assert {"g1", "g2", "g3", "g4", "g5"} <= r.executed | r.cached


# --- tests -----------------------------------------------------------------------


@FUZZ
@given(case=prompt_and_targets())
def test_validate_prompt_never_raises(case):
    prompt, outputs = case
    v = validate_prompt(prompt, REGISTRY, outputs=outputs)
    check_node_errors(v.node_errors)
    if v.ok:
        assert v.error is None
        assert v.outputs
        assert all(isinstance(o, str) and o in prompt for o in v.outputs)
    else:
        check_validation_error(v.error)
        assert v.outputs == []


@pytest.fixture(params=["classic", "lru", "ram", "none"])
def executor(request):
    return Executor(make_registry(), cache=request.param)


@FUZZ
@given(case=prompt_and_targets(), b=st.integers(-3, 3))
def test_execute_never_raises_and_executor_survives(executor, case, b):
    prompt, outputs = case
    r = executor.execute(prompt, outputs=outputs)
    check_result(r)
    # execute() validates exactly as validate_prompt() does.
    assert (r.status == "invalid") == (not validate_prompt(prompt, REGISTRY, outputs=outputs).ok)
    check_still_works(executor, b)


# fmt: off
BROKEN = [
    None,
    [],
    "prompt",
    {},
    {"1": None},
    {"1": {"class_type": "Show"}},  # no inputs key: the required input is missing
    {"1": {"class_type": "Show", "inputs": {"value": ["1", 0]}}},  # self-cycle
    {"1": {"class_type": "Show", "inputs": {"value": ["2", 0]}}},  # dangling
    {"1": {"class_type": "Int", "inputs": {"value": 10**5000}}, "2": {"class_type": "Show", "inputs": {"value": ["1", 0]}}},
    {"1": {"class_type": "Any", "inputs": {"value": 10**5000}}, "2": {"class_type": "Show", "inputs": {"value": ["1", 0]}}},
    {"1": {"class_type": "Float", "inputs": {"value": math.nan}}, "2": {"class_type": "Show", "inputs": {"value": ["1", 0]}}},
    {"1": {"class_type": "Float", "inputs": {"value": 10**400}}, "2": {"class_type": "Show", "inputs": {"value": ["1", 0]}}},
    {"1": {"class_type": "Any", "inputs": {"value": {object()}}}, "2": {"class_type": "Show", "inputs": {"value": ["1", 0]}}},
    {"1": {"class_type": "Checked", "inputs": {"value": object()}}, "2": {"class_type": "Show", "inputs": {"value": ["1", 0]}}},
    {"1": {"class_type": "Fail", "inputs": {"value": 1}}, "2": {"class_type": "Show", "inputs": {"value": ["1", 0]}}},
    {"1": {"class_type": "Show", "inputs": {"value": 1, 7: ["1", 0]}}},
    {"1": {"class_type": "Show", "inputs": {"value": 1, "extra": ["1", 0]}}},  # undeclared self-link
    {"1": {"class_type": "Show", "inputs": {"value": ["2", 0]}}, "2": {"class_type": "Any", "inputs": {"value": ["2", 0]}}},
]
# fmt: on


@pytest.mark.parametrize("prompt", [pytest.param(p, id=str(i)) for i, p in enumerate(BROKEN)])
def test_broken_prompts(executor, prompt):
    check_result(executor.execute(prompt))
    check_still_works(executor, 1)
    v = validate_prompt(prompt, REGISTRY)
    if not v.ok:
        check_validation_error(v.error)


@pytest.mark.parametrize("class_type", ["Int", "Any"])
def test_huge_int_constant_runs(executor, class_type):
    """A Python int past 4300 digits has no repr(); it is still a valid constant."""
    value = -(10**5000)
    prompt = {
        "1": {"class_type": class_type, "inputs": {"value": value}},
        "2": {"class_type": "Show", "inputs": {"value": ["1", 0]}},
    }
    r = executor.execute(prompt)
    assert r.status == "success", r.error
    assert r.outputs["2"]["value"][0] == value
    again = executor.execute(prompt)
    assert again.status == "success", again.error
    assert again.outputs["2"]["value"][0] == value


# fmt: off
NON_JSON_INPUTS = [
    # (name, prompt): each gives a validation error whose payload mentions a non-JSON value
    ("link with an object slot", {"1": {"class_type": "Int", "inputs": {"value": 1}},
                                  "2": {"class_type": "Show", "inputs": {"value": ["1", object()]}}}),
    ("link to an object", {"2": {"class_type": "Show", "inputs": {"value": [object(), 0]}}}),
    ("link of length 3", {"2": {"class_type": "Show", "inputs": {"value": ["1", 0, {1, 2}]}}}),
    ("INT from an object", {"1": {"class_type": "Int", "inputs": {"value": object()}},
                            "2": {"class_type": "Show", "inputs": {"value": ["1", 0]}}}),
    ("COMBO value is a set", {"1": {"class_type": "Choice", "inputs": {"value": frozenset({1})}},
                              "2": {"class_type": "Show", "inputs": {"value": ["1", 0]}}}),
    ("class_type is bytes", {"1": {"class_type": b"Int", "inputs": {}}}),
]
# fmt: on


@pytest.mark.parametrize("prompt", [pytest.param(p, id=n) for n, p in NON_JSON_INPUTS])
def test_validation_errors_are_json(prompt):
    """Errors cross to the browser (events, history) as JSON, like ComfyUI's /prompt response."""
    import json

    v = validate_prompt(prompt, REGISTRY)
    assert not v.ok
    json.dumps(v.error)
    json.dumps(v.node_errors)
