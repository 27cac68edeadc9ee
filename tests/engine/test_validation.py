"""Prompt validation: every ComfyUI error type, as a table of small prompts.

Each failing case names the error type and the node (and input) it must be
reported on. The cases follow ComfyUI's ``validate_inputs``/``validate_prompt``
(ENGINE_CASES.md 5-11, 13, 29 and the newer upstream case 65).
"""

from __future__ import annotations

import copy
import json

import pytest

from engine import Executor, NodeRegistry, validate_prompt
from engine.validation import CYCLE_REPORTED, CYCLE_SHOWN

from .stubs import v1_node

ERROR_KEYS = {"type", "message", "details", "extra_info"}


# --- stub nodes ------------------------------------------------------------


class AnyType(str):
    """A node pack's "any type": equal to every type (ComfyUI packs' SmartType)."""

    def __ne__(self, other):
        return False


class IntOrFloat(str):
    """A variant type that accepts INT and FLOAT links only (like ``VariantSupport``)."""

    def __ne__(self, other):
        return other not in ("INT", "FLOAT")


def _raise(message):
    raise ValueError(message)


def cv1_validate(cls, input1=None, input2=None):
    for value in (input1, input2):
        if value is not None and not isinstance(value, float):
            return f"Invalid type of input: {type(value).__name__}"
    return True


def cv2_validate(cls, input_types, input1=None):
    cls.seen.append(dict(input_types))
    if input_types.get("input1") == "INT":
        return f"Invalid type of input1: {input_types['input1']}"
    return True


def cv4_validate(cls, input1, input2):
    cls.seen.append((input1, input2))
    return True


def cv5_validate(cls, **kwargs):
    if kwargs["input2"] == 7.0:
        return "7s are not allowed"
    return True


async def async_validate(cls, value, threshold):
    return True if value <= threshold else f"{value} > {threshold}"


# fmt: off
NODES = {
    "IntConst": v1_node("IntConst", {"value": ("INT", {"default": 0, "min": 0, "max": 10})}, returns=("INT",)),
    "FloatConst": v1_node("FloatConst", {"value": ("FLOAT", {"default": 0.0})}, returns=("FLOAT",)),
    "Text": v1_node("Text", {"text": ("STRING", {"default": ""})}, returns=("STRING",)),
    "Pick": v1_node("Pick", {"choice": (["a", "b", "c"],)}, returns=("STRING",)),
    "PickV3": v1_node("PickV3", {"choice": ("COMBO", {"options": ["a", "b"]})}, returns=("STRING",)),
    "Pair": v1_node("Pair", {"value": ("INT",)}, returns=("INT", "STRING")),
    "Pass": v1_node("Pass", {"x": ("INT",)}, returns=("INT",)),
    "AnyOut": v1_node("AnyOut", returns=("*",)),
    "SmartOut": v1_node("SmartOut", returns=(AnyType("*"),)),
    "Sink": v1_node("Sink", {"value": ("INT",)}, output=True),
    "AnySink": v1_node("AnySink", {"value": ("*",)}, output=True),
    "UnionSink": v1_node("UnionSink", {"value": ("IMAGE,FLOAT",)}, output=True),
    "SmartSink": v1_node("SmartSink", {"value": (AnyType("*"),)}, output=True),
    "VariantSink": v1_node("VariantSink", {"value": (IntOrFloat("VARIANT"),)}, output=True),
    "Checked": v1_node(
        "Checked",
        {"value": ("INT",)},
        output=True,
        VALIDATE_INPUTS=classmethod(lambda cls, value: value <= 10),
    ),
    "Reasoned": v1_node(
        "Reasoned",
        {"value": ("INT",)},
        output=True,
        VALIDATE_INPUTS=classmethod(lambda cls, value: True if value <= 10 else "too big"),
    ),
    "Boom": v1_node(
        "Boom",
        {"value": ("INT",)},
        output=True,
        VALIDATE_INPUTS=classmethod(lambda cls, value: _raise("root validator exploded")),
    ),
    "InnerBoom": v1_node(
        "InnerBoom",
        {"value": ("INT",)},
        returns=("INT",),
        VALIDATE_INPUTS=classmethod(lambda cls, value: _raise("inner validator exploded")),
    ),
    "X": v1_node("X", optional={"x": ("INT",)}, returns=("INT",), output=True),
    # ComfyUI's TestCustomValidation1..5 (ENGINE_CASES.md 5-10)
    "CV1": v1_node(
        "CV1",
        {"input1": ("IMAGE,FLOAT",), "input2": ("IMAGE,FLOAT",)},
        returns=("IMAGE",),
        output=True,
        VALIDATE_INPUTS=classmethod(cv1_validate),
    ),
    "CV2": v1_node(
        "CV2",
        {"input1": ("FLOAT",)},
        output=True,
        VALIDATE_INPUTS=classmethod(cv2_validate),
        seen=[],
    ),
    "CV4": v1_node(
        "CV4",
        {"input1": ("FLOAT",), "input2": ("FLOAT",)},
        output=True,
        VALIDATE_INPUTS=classmethod(cv4_validate),
        seen=[],
    ),
    "CV5": v1_node(
        "CV5",
        {
            "input1": ("FLOAT", {"min": 0.0, "max": 1.0}),
            "input2": ("FLOAT", {"min": 0.0, "max": 1.0}),
        },
        output=True,
        VALIDATE_INPUTS=classmethod(cv5_validate),
    ),
    "AsyncCheck": v1_node(
        "AsyncCheck",
        {"value": ("INT",), "threshold": ("INT",)},
        output=True,
        VALIDATE_INPUTS=classmethod(async_validate),
    ),
}
# fmt: on


@pytest.fixture(scope="module")
def reg() -> NodeRegistry:
    registry = NodeRegistry()
    registry.load_mappings(NODES)
    return registry


def const(value, class_type="IntConst", name="value"):
    return {"class_type": class_type, "inputs": {name: value}}


def sink(link, class_type="Sink"):
    return {"class_type": class_type, "inputs": {"value": link}}


# --- errors that make the whole prompt invalid -----------------------------

# fmt: off
PROMPT_ERRORS = [
    # (name, prompt, outputs, error type)
    ("no output nodes", {"1": const(1)}, None, "prompt_no_outputs"),
    ("empty target list (case 29)", {"1": const(1), "2": sink(["1", 0])}, [], "prompt_no_outputs"),
    ("empty prompt", {}, None, "prompt_no_outputs"),
    ("missing class_type", {"1": {"inputs": {}}, "2": sink(["1", 0])}, None, "invalid_prompt"),
    ("unknown node type", {"1": {"class_type": "Nope", "inputs": {}}, "2": sink(["1", 0])}, None, "invalid_prompt"),
    ("unknown target", {"1": const(1), "2": sink(["1", 0])}, ["99"], "invalid_prompt"),
    ("prompt is a list", [{"class_type": "Sink", "inputs": {}}], None, "invalid_prompt"),
    ("prompt is a string", "{}", None, "invalid_prompt"),
    ("prompt is None", None, None, "invalid_prompt"),
    ("node is not a dict", {"1": ["Sink"]}, None, "invalid_prompt"),
    ("inputs is not a dict", {"1": {"class_type": "Sink", "inputs": [["2", 0]]}}, None, "invalid_prompt"),
]
# fmt: on


@pytest.mark.parametrize(
    "prompt, outputs, error_type",
    [pytest.param(p, o, t, id=n) for n, p, o, t in PROMPT_ERRORS],
)
def test_prompt_level_error(reg, prompt, outputs, error_type):
    v = validate_prompt(prompt, reg, outputs=outputs)
    assert not v.ok
    assert v.outputs == []
    assert set(v.error) == ERROR_KEYS
    assert v.error["type"] == error_type


# --- errors on a node: only the outputs depending on it fail -----------------

# fmt: off
NODE_ERRORS = [
    # (name, prompt, outputs, error type, node with the error, input name or None)
    ("required input missing", {"1": {"class_type": "Sink", "inputs": {}}}, None,
     "required_input_missing", "1", "value"),
    ("link too short", {"1": const(1), "2": sink(["1"])}, None, "bad_linked_input", "2", "value"),
    ("link too long", {"1": const(1), "2": sink(["1", 0, 0])}, None, "bad_linked_input", "2", "value"),
    ("dangling link (case 13)", {"2": sink(["9", 0])}, None, "bad_linked_input", "2", "value"),
    ("slot out of range", {"1": const(1), "2": sink(["1", 1])}, None, "bad_linked_input", "2", "value"),
    ("negative slot", {"1": const(1), "2": sink(["1", -1])}, None, "bad_linked_input", "2", "value"),
    ("second slot of a one-output node", {"1": const(1, "Pair"), "2": sink(["1", 2])}, None,
     "bad_linked_input", "2", "value"),
    ("STRING into INT", {"1": const("a", "Text", "text"), "2": sink(["1", 0])}, None,
     "return_type_mismatch", "2", "value"),
    ("second output STRING into INT", {"1": const(1, "Pair"), "2": sink(["1", 1])}, None,
     "return_type_mismatch", "2", "value"),
    ("INT into IMAGE,FLOAT (case 6)", {"1": const(1), "2": sink(["1", 0], "UnionSink")}, None,
     "return_type_mismatch", "2", "value"),
    ("STRING into a variant of INT|FLOAT (case 8)",
     {"1": const("a", "Text", "text"), "2": sink(["1", 0], "VariantSink")}, None,
     "return_type_mismatch", "2", "value"),
    ("INT from a string that is not a number", {"1": const("abc"), "2": sink(["1", 0])}, None,
     "invalid_input_type", "1", "value"),
    ("INT from None", {"1": const(None), "2": sink(["1", 0])}, None, "invalid_input_type", "1", "value"),
    ("INT from a dict", {"1": const({"a": 1}), "2": sink(["1", 0])}, None,
     "invalid_input_type", "1", "value"),
    ("FLOAT from a word", {"1": const("x", "FloatConst"), "2": sink(["1", 0], "UnionSink")}, None,
     "invalid_input_type", "1", "value"),
    ("below min", {"1": const(-1), "2": sink(["1", 0])}, None, "value_smaller_than_min", "1", "value"),
    ("above max", {"1": const(11), "2": sink(["1", 0])}, None, "value_bigger_than_max", "1", "value"),
    ("above max after conversion", {"1": const("11"), "2": sink(["1", 0])}, None,
     "value_bigger_than_max", "1", "value"),
    ("not in list", {"1": const("z", "Pick", "choice"), "2": sink(["1", 0], "AnySink")}, None,
     "value_not_in_list", "1", "choice"),
    ("not in COMBO options", {"1": const("z", "PickV3", "choice"), "2": sink(["1", 0], "AnySink")}, None,
     "value_not_in_list", "1", "choice"),
    ("VALIDATE_INPUTS returns False", {"1": sink(11, "Checked")}, None,
     "custom_validation_failed", "1", "value"),
    ("VALIDATE_INPUTS returns a reason", {"1": sink(11, "Reasoned")}, None,
     "custom_validation_failed", "1", "value"),
    ("VALIDATE_INPUTS rejects an int literal (case 5)",
     {"1": {"class_type": "CV1", "inputs": {"input1": 5, "input2": 3.0}}}, None,
     "custom_validation_failed", "1", "input1"),
    ("VALIDATE_INPUTS rejects a str literal (case 5)",
     {"1": {"class_type": "CV1", "inputs": {"input1": "foo", "input2": 3.0}}}, None,
     "custom_validation_failed", "1", "input1"),
    ("VALIDATE_INPUTS with input_types rejects INT (case 7)",
     {"1": const(1), "2": {"class_type": "CV2", "inputs": {"input1": ["1", 0]}}}, None,
     "custom_validation_failed", "2", "input1"),
    ("INT link into a FLOAT node whose validator has no input_types (case 9)",
     {"1": const(1), "2": {"class_type": "CV4", "inputs": {"input1": ["1", 0], "input2": 1.0}}}, None,
     "return_type_mismatch", "2", "input1"),
    ("**kwargs validator rejects 7.0 (case 10)",
     {"1": {"class_type": "CV5", "inputs": {"input1": 0, "input2": 7.0}}}, None,
     "custom_validation_failed", "1", "input2"),
    ("async VALIDATE_INPUTS rejects (case 51)",
     {"1": {"class_type": "AsyncCheck", "inputs": {"value": 15, "threshold": 10}}}, None,
     "custom_validation_failed", "1", "value"),
    ("output node's validator raises", {"1": sink(1, "Boom")}, None, "exception_during_validation", "1", None),
    ("inner node's validator raises (case 65)",
     {"1": {"class_type": "InnerBoom", "inputs": {"value": 1}}, "2": sink(["1", 0])}, None,
     "exception_during_inner_validation", "1", None),
    ("2-node cycle", {"0": const(["1", 0], "X", "x"), "1": const(["0", 0], "X", "x")}, None,
     "dependency_cycle", "0", None),
    ("self-link", {"0": const(["0", 0], "X", "x")}, None, "dependency_cycle", "0", None),
    ("error behind a partial target",
     {"1": const(99), "2": {"class_type": "Pass", "inputs": {"x": ["1", 0]}}}, ["2"],
     "value_bigger_than_max", "1", "value"),
]
# fmt: on


@pytest.mark.parametrize(
    "prompt, outputs, error_type, node_id, input_name",
    [pytest.param(p, o, t, n_id, i, id=n) for n, p, o, t, n_id, i in NODE_ERRORS],
)
def test_node_error(reg, prompt, outputs, error_type, node_id, input_name):
    v = validate_prompt(prompt, reg, outputs=outputs)
    assert not v.ok
    assert v.error["type"] == "prompt_outputs_failed_validation"
    assert set(v.error) == ERROR_KEYS
    entry = v.node_errors[node_id]
    assert entry["class_type"] == prompt[node_id]["class_type"]
    assert entry["dependent_outputs"]
    for e in entry["errors"]:
        assert set(e) == ERROR_KEYS
    matching = [e for e in entry["errors"] if e["type"] == error_type]
    assert matching, [e["type"] for e in entry["errors"]]
    if input_name is not None:
        # ComfyUI reports a failed VALIDATE_INPUTS once per input it was given.
        assert input_name in [e["extra_info"].get("input_name") for e in matching]


@pytest.mark.parametrize(
    ("link", "says"),
    [
        (["9", 0], "Bad linked input: node '9' is not in the prompt"),
        ([9, 0], "Bad linked input: node 9 is not in the prompt"),
        (["1", "first"], "Bad linked input: the slot 'first' is not an integer"),
    ],
)
def test_a_bad_link_says_what_is_wrong_with_it(reg, link, says):
    v = validate_prompt({"1": const(1), "2": sink(link)}, reg)
    (e,) = v.node_errors["2"]["errors"]
    assert e["message"] == says


# --- prompts that are valid --------------------------------------------------

# fmt: off
VALID = [
    # (name, prompt, outputs, the valid outputs)
    ("INT into INT", {"1": const(1), "2": sink(["1", 0])}, None, ["2"]),
    ("INT from a numeric string", {"1": const("5"), "2": sink(["1", 0])}, None, ["2"]),
    ("bounds are inclusive", {"1": const(0), "2": sink(["1", 0]), "3": const(10), "4": sink(["3", 0])},
     None, ["2", "4"]),
    ("FLOAT into IMAGE,FLOAT", {"1": const(1.0, "FloatConst"), "2": sink(["1", 0], "UnionSink")}, None, ["2"]),
    ("INT into *", {"1": const(1), "2": sink(["1", 0], "AnySink")}, None, ["2"]),
    ("* into INT", {"1": {"class_type": "AnyOut", "inputs": {}}, "2": sink(["1", 0])}, None, ["2"]),
    ("any-type output into INT", {"1": {"class_type": "SmartOut", "inputs": {}}, "2": sink(["1", 0])},
     None, ["2"]),
    ("STRING into an any-type input", {"1": const("a", "Text", "text"), "2": sink(["1", 0], "SmartSink")},
     None, ["2"]),
    ("INT into a variant of INT|FLOAT", {"1": const(1), "2": sink(["1", 0], "VariantSink")}, None, ["2"]),
    ("COMBO choice", {"1": const("b", "Pick", "choice"), "2": sink(["1", 0], "AnySink")}, None, ["2"]),
    ("second output slot", {"1": const(1, "Pair"), "2": sink(["1", 1], "AnySink")}, None, ["2"]),
    ("validator accepts", {"1": sink(10, "Checked"), "2": sink(3, "Reasoned")}, None, ["1", "2"]),
    ("float literal accepted by CV1 (case 5)",
     {"1": {"class_type": "CV1", "inputs": {"input1": 5.0, "input2": 3.0}}}, None, ["1"]),
    ("**kwargs validator disables min/max (case 10)",
     {"1": {"class_type": "CV5", "inputs": {"input1": 0, "input2": 5.0}}}, None, ["1"]),
    ("**kwargs validator within bounds (case 10)",
     {"1": {"class_type": "CV5", "inputs": {"input1": 0, "input2": 0.5}}}, None, ["1"]),
    ("async VALIDATE_INPUTS accepts (case 47)",
     {"1": {"class_type": "AsyncCheck", "inputs": {"value": 5, "threshold": 10}}}, None, ["1"]),
    ("a non-output node as a partial target", {"1": const(1), "2": sink(["1", 0])}, ["1"], ["1"]),
]
# fmt: on


@pytest.mark.parametrize(
    "prompt, outputs, good",
    [pytest.param(p, o, g, id=n) for n, p, o, g in VALID],
)
def test_valid_prompt(reg, prompt, outputs, good):
    v = validate_prompt(prompt, reg, outputs=outputs)
    assert v.ok, v.node_errors or v.error
    assert v.error is None
    assert sorted(v.outputs) == good
    assert v.node_errors == {}


# --- details of particular errors --------------------------------------------


def test_cycle_detail_names_each_node_and_marks_both_invalid(reg):
    prompt = {"0": const(["1", 0], "X", "x"), "1": const(["0", 0], "X", "x")}
    v = validate_prompt(prompt, reg)
    assert not v.ok
    assert set(v.node_errors) == {"0", "1"}
    for node_id in ("0", "1"):
        cycle = [e for e in v.node_errors[node_id]["errors"] if e["type"] == "dependency_cycle"]
        assert len(cycle) == 1
        assert cycle[0]["details"] == "0 (X) -> 1 (X) -> 0 (X)"


def test_cycle_behind_an_output_marks_only_the_cycle(reg):
    prompt = {
        "o": sink(["a", 0]),
        "a": const(["b", 0], "Pass", "x"),
        "b": const(["c", 0], "Pass", "x"),
        "c": const(["a", 0], "Pass", "x"),
    }
    v = validate_prompt(prompt, reg)
    assert not v.ok
    assert set(v.node_errors) == {"a", "b", "c"}
    for node_id in "abc":
        (problem,) = v.node_errors[node_id]["errors"]
        assert problem["type"] == "dependency_cycle"
        assert problem["details"] == "a (Pass) -> b (Pass) -> c (Pass) -> a (Pass)"
        assert v.node_errors[node_id]["dependent_outputs"] == ["o"]


def test_cycle_only_fails_outputs_depending_on_it(reg):
    prompt = {
        "0": const(["1", 0], "Pass", "x"),
        "1": const(["0", 0], "Pass", "x"),
        "2": sink(["0", 0]),
        "3": const(1),
        "4": sink(["3", 0]),
    }
    v = validate_prompt(prompt, reg)
    assert v.ok
    assert v.outputs == ["4"]
    assert {"0", "1"} <= set(v.node_errors)
    assert "4" not in v.node_errors


def long_cycle(n: int) -> dict:
    """An output behind a cycle of ``n`` Pass nodes: c0 -> c1 -> ... -> c(n-1) -> c0."""
    prompt = {f"c{i}": const([f"c{(i + 1) % n}", 0], "Pass", "x") for i in range(n)}
    prompt["o"] = sink(["c0", 0])
    return prompt


def test_long_cycle_report_is_bounded_and_every_node_of_it_invalid(reg):
    n = 10_000
    prompt = long_cycle(n)
    prompt["o2"] = sink([f"c{n - 1}", 0])  # reaches the cycle far past the nodes it is reported on
    prompt["k"], prompt["o3"] = const(1), sink(["k", 0])
    v = validate_prompt(prompt, reg)
    report = json.dumps({"error": v.error, "node_errors": v.node_errors})
    assert len(report) < 1_000_000  # was 2 billion characters: the whole cycle on every node
    assert v.ok and v.outputs == ["o3"]  # only what does not depend on the cycle runs
    problem = v.node_errors["c0"]["errors"][0]
    assert problem["type"] == "dependency_cycle"
    assert problem["extra_info"]["cycle_length"] == n
    assert problem["details"].startswith("c0 (Pass) -> c1 (Pass) -> ")
    assert f"… {n - CYCLE_SHOWN:,} more -> c0 (Pass)" in problem["details"]
    assert len(v.node_errors) == CYCLE_REPORTED
    executor = Executor(reg, cache="none")
    r = executor.execute(prompt)
    assert r.status == "success" and r.executed == {"k", "o3"}


def test_custom_validation_details(reg):
    v = validate_prompt({"1": sink(11, "Reasoned"), "2": sink(11, "Checked")}, reg)
    reasoned = v.node_errors["1"]["errors"][0]
    assert reasoned["details"] == "value - too big"
    checked = v.node_errors["2"]["errors"][0]
    assert checked["details"] == "value"


def test_async_validator_reason_is_reported(reg):
    prompt = {"1": {"class_type": "AsyncCheck", "inputs": {"value": 15, "threshold": 10}}}
    v = validate_prompt(prompt, reg)
    details = [e["details"] for e in v.node_errors["1"]["errors"]]
    assert any("15 > 10" in d for d in details), details


@pytest.mark.parametrize(
    "prompt, node_id, output, error_type, message",
    [
        pytest.param(
            {"1": sink(1, "Boom")},
            "1",
            "1",
            "exception_during_validation",
            "root validator exploded",
            id="root",
        ),
        pytest.param(
            {"1": {"class_type": "InnerBoom", "inputs": {"value": 1}}, "2": sink(["1", 0])},
            "1",
            "2",
            "exception_during_inner_validation",
            "inner validator exploded",
            id="inner",
        ),
    ],
)
def test_validator_exception_details(reg, prompt, node_id, output, error_type, message):
    v = validate_prompt(prompt, reg)
    (problem,) = v.node_errors[node_id]["errors"]
    assert problem["type"] == error_type
    info = problem["extra_info"]
    assert info["exception_message"] == message
    assert "ValueError" in info["exception_type"]
    assert isinstance(info["traceback"], list)
    assert v.node_errors[node_id]["dependent_outputs"] == [output]
    if error_type == "exception_during_inner_validation":
        # As ComfyUI: reported on the inner node, naming the consumer's input and its link.
        assert info["input_name"] == "value"
        assert info["linked_node"] == ["1", 0]


def test_input_types_validator_skips_the_link_type_check(reg):
    """Case 7: a STRING link into a FLOAT input is the node's call, not the engine's."""
    NODES["CV2"].seen.clear()
    prompt = {
        "1": const("a", "Text", "text"),
        "2": {"class_type": "CV2", "inputs": {"input1": ["1", 0]}},
    }
    v = validate_prompt(prompt, reg)
    assert v.ok, v.node_errors
    assert NODES["CV2"].seen == [{"input1": "STRING"}]


def test_linked_values_arrive_as_none_in_validate_inputs(reg):
    """Case 9: links are not evaluated at validation time."""
    NODES["CV4"].seen.clear()
    prompt = {
        "1": const(0.5, "FloatConst"),
        "2": {"class_type": "CV4", "inputs": {"input1": ["1", 0], "input2": 2.5}},
    }
    v = validate_prompt(prompt, reg)
    assert v.ok, v.node_errors
    assert NODES["CV4"].seen == [(None, 2.5)]


def test_invalid_branch_does_not_stop_valid_outputs(reg):
    prompt = {
        "1": const(99),
        "2": sink(["1", 0]),
        "3": sink(["1", 0]),
        "4": const(3),
        "5": sink(["4", 0]),
    }
    v = validate_prompt(prompt, reg)
    assert v.ok
    assert v.error is None
    assert v.outputs == ["5"]
    # Only the node with errors is listed; the outputs below it fail without errors of their own.
    assert set(v.node_errors) == {"1"}
    entry = v.node_errors["1"]
    assert sorted(entry["dependent_outputs"]) == ["2", "3"]
    assert entry["class_type"] == "IntConst"
    assert [e["type"] for e in entry["errors"]] == ["value_bigger_than_max"]


def test_order_lists_the_valid_nodes_each_after_its_producers(reg):
    """The executor signs the prompt in this order, in one pass."""
    prompt = {
        "out": sink(["mid", 0]),
        "mid": {"class_type": "Pass", "inputs": {"x": ["src", 0]}},
        "src": const(3),
        "bad": const(99),
        "bad_out": sink(["bad", 0]),
        "unreached": const(1),
    }
    v = validate_prompt(prompt, reg, outputs=["out", "bad_out"])
    assert v.ok
    assert v.order == ["src", "mid", "out"]


def test_dangling_link_fails_only_its_output(reg):
    """Case 13: one output depends on a node removed from the prompt."""
    prompt = {"1": const(1), "2": sink(["1", 0]), "3": sink(["7", 0])}
    v = validate_prompt(prompt, reg)
    assert v.ok
    assert v.outputs == ["2"]
    assert v.node_errors["3"]["errors"][0]["type"] == "bad_linked_input"
    assert v.node_errors["3"]["dependent_outputs"] == ["3"]


# --- case 65 and the normalized prompt ---------------------------------------


def chain(depth: int, bottom_value: int = 1) -> dict:
    prompt = {"0": const(bottom_value)}
    for i in range(1, depth + 1):
        prompt[str(i)] = {"class_type": "Pass", "inputs": {"x": [str(i - 1), 0]}}
    prompt["out"] = sink([str(depth), 0])
    return prompt


@pytest.mark.parametrize("depth", [2000, 10_000])
def test_deep_chain_validates(reg, depth):
    v = validate_prompt(chain(depth), reg)
    assert v.ok, v.error
    assert v.outputs == ["out"]


def test_error_at_the_bottom_of_a_deep_chain(reg):
    v = validate_prompt(chain(10_000, bottom_value=99), reg)
    assert not v.ok
    assert set(v.node_errors) == {"0"}
    assert v.node_errors["0"]["dependent_outputs"] == ["out"]


def test_caller_prompt_is_not_mutated_and_constants_are_converted(reg):
    prompt = {
        "1": const("5"),
        "2": sink(["1", 0]),
        "3": {"class_type": "CV5", "inputs": {"input1": "0.25", "input2": 1}},
    }
    before = copy.deepcopy(prompt)
    v = validate_prompt(prompt, reg)
    assert v.ok, v.node_errors
    assert prompt == before
    assert prompt["1"]["inputs"]["value"] == "5"
    assert v.prompt["1"]["inputs"]["value"] == 5
    assert type(v.prompt["1"]["inputs"]["value"]) is int
    assert v.prompt["3"]["inputs"] == {"input1": 0.25, "input2": 1.0}
    assert type(v.prompt["3"]["inputs"]["input2"]) is float
    assert v.prompt["2"] == prompt["2"]


def test_wrapped_list_constant_is_unwrapped(reg):
    """ComfyUI passes list widget values as {"__value__": [...]}, since a bare list is a link."""
    prompt = {"1": {"class_type": "AnySink", "inputs": {"value": {"__value__": [1, 2]}}}}
    v = validate_prompt(prompt, reg)
    assert v.ok, v.node_errors
    assert v.prompt["1"]["inputs"]["value"] == [1, 2]
    assert prompt["1"]["inputs"]["value"] == {"__value__": [1, 2]}
