"""Primitive nodes and control after generate (engine.seeds.apply_control)."""

from __future__ import annotations

import random
import sys

import pytest

from engine import seeds as controls
from engine.nodespec import parse_inputs
from engine.seeds import JS_SAFE_LIMIT, apply_control
from nodes.primitives import (
    PrimitiveBoolean,
    PrimitiveFloat,
    PrimitiveInt,
    PrimitiveSeed,
    PrimitiveString,
    PrimitiveStringMultiline,
)


@pytest.mark.parametrize(
    "cls, type_, value",
    [
        (PrimitiveInt, "INT", -7),
        (PrimitiveFloat, "FLOAT", 2.5),
        (PrimitiveString, "STRING", "hi"),
        (PrimitiveStringMultiline, "STRING", "a\nb"),
        (PrimitiveBoolean, "BOOLEAN", True),
    ],
)
def test_primitives_pass_their_value_through(cls, type_, value):
    spec = cls.INPUT_TYPES()["required"]["value"]
    assert spec[0] == type_ and (type_,) == cls.RETURN_TYPES
    assert cls().execute(value) == (value,)


def test_primitive_specs_are_comfyuis():
    options = PrimitiveInt.INPUT_TYPES()["required"]["value"][1]
    assert (options["min"], options["max"]) == (-sys.maxsize, sys.maxsize)
    assert PrimitiveStringMultiline.INPUT_TYPES()["required"]["value"][1]["multiline"] is True
    assert PrimitiveInt.CATEGORY == "utils/primitive"


def controlled_inputs(input_types: dict) -> list[str]:
    return [declared.name for declared in parse_inputs(input_types)[0] if declared.control]


def test_int_and_seed_have_control_after_generate():
    assert controlled_inputs(PrimitiveInt.INPUT_TYPES()) == ["value"]
    assert controlled_inputs(PrimitiveSeed.INPUT_TYPES()) == ["seed"]
    assert controlled_inputs(PrimitiveFloat.INPUT_TYPES()) == []
    seed = PrimitiveSeed.INPUT_TYPES()["required"]["seed"][1]
    assert (seed["min"], seed["max"]) == (0, 0xFFFFFFFFFFFFFFFF)
    assert PrimitiveSeed().execute(2**63 + 5) == (2**63 + 5,)


def test_a_huge_seed_runs_through_the_engine(ex):
    prompt = {
        "seed": {"class_type": "PrimitiveSeed", "inputs": {"seed": 0xFFFFFFFFFFFFFFFF}},
        "show": {"class_type": "PreviewAny", "inputs": {"source": ["seed", 0]}},
    }
    assert ex.execute(prompt).outputs["show"] == {"text": [str(0xFFFFFFFFFFFFFFFF)]}


class FixedRandom:
    def __init__(self, value: float):
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.mark.parametrize(
    "value, mode, expected",
    [
        (5, "fixed", 5),
        (5, "increment", 6),
        (5, "decrement", 4),
        (10, "increment", 10),  # clamped at max, no wrap-around
        (0, "decrement", 0),
        (12, "fixed", 10),  # out of range values are clamped whatever the mode
    ],
)
def test_apply_control_moves_by_one_step_within_bounds(value, mode, expected):
    assert apply_control(value, mode, 0, 10, None) == expected


def test_randomize_picks_min_plus_a_whole_number_of_steps():
    assert apply_control(5, "randomize", 0, 10, FixedRandom(0.0)) == 0
    assert apply_control(5, "randomize", 0, 10, FixedRandom(0.999)) == 9  # max is not drawn
    assert apply_control(5, "randomize", 100, 200, FixedRandom(0.5), step=10) == 150
    rng = random.Random(0)
    draws = [apply_control(0, "randomize", -3, 3, rng) for _ in range(200)]
    assert set(draws) == {-3, -2, -1, 0, 1, 2}
    assert all(isinstance(d, int) for d in draws)


def test_seed_bounds_are_limited_as_comfyuis_frontend_does():
    seed_max = 0xFFFFFFFFFFFFFFFF
    assert apply_control(0, "randomize", 0, seed_max, FixedRandom(0.999999)) < JS_SAFE_LIMIT
    assert apply_control(2**60, "fixed", 0, seed_max, None) == JS_SAFE_LIMIT == 2**50
    assert apply_control(2**50, "increment", 0, seed_max, None) == 2**50


def test_float_values_and_unknown_modes():
    assert apply_control(0.5, "increment", 0.0, 1.0, None, step=0.25) == 0.75
    with pytest.raises(ValueError, match="unknown control mode"):
        apply_control(1, "random", 0, 10, None)
    assert controls.CONTROL_MODES == ("fixed", "increment", "decrement", "randomize")
