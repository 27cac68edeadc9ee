"""Control after generate: how a seed widget changes after each queued run.

In ComfyUI an INT input whose options hold ``"control_after_generate": True``
(a sampler's seed, PrimitiveInt's value) gets a second widget with the modes
below; after a prompt is queued the frontend applies the mode to the value, so
the next run uses a new seed (or the same one, for ``fixed``). The workflow
stores that mode as an extra entry in the node's ``widgets_values``.

This module is the pure rule, for the widget and queue layers to call. It
follows ComfyUI's frontend: the bounds are first limited to ±2**50 (the range
JavaScript numbers hold exactly), the value moves by ``step``, and the result
is clamped into the bounds, so ``increment`` at the maximum stays there.
"""

from __future__ import annotations

import builtins
import math
import random
from typing import Any

from engine.nodespec import parse_inputs

from .primitives import SEED_MAX

__all__ = ["CONTROL_MODES", "apply_control", "controlled_inputs"]

CONTROL_MODES = ("fixed", "increment", "decrement", "randomize")
JS_SAFE_LIMIT = 1125899906842624  # 2**50, ComfyUI's frontend bound for these widgets


def apply_control(
    value: float,
    mode: str,
    min: float = 0,
    max: float = SEED_MAX,
    rng: Any = None,
    step: float = 1,
) -> float:
    """The widget value for the next run, after ``mode`` is applied to ``value``.

    ``rng`` is anything with a ``random()`` method returning a float in [0, 1)
    (a ``random.Random``; the ``random`` module when None). ``randomize`` picks
    ``min + k*step`` for a uniform integer ``k`` in ``[0, (max - min) / step)``.
    Ints stay ints when ``step`` is an int. (``min``/``max`` keep the names of
    the input options they come from.)
    """
    if mode not in CONTROL_MODES:
        raise ValueError(f"unknown control mode {mode!r}: expected one of {CONTROL_MODES}")
    low = builtins.max(min, -JS_SAFE_LIMIT)
    high = builtins.min(max, JS_SAFE_LIMIT)
    if low > high:
        raise ValueError(f"empty range: min {min} > max {max}")
    if mode == "increment":
        value = value + step
    elif mode == "decrement":
        value = value - step
    elif mode == "randomize":
        count = (high - low) / step
        value = low + math.floor((rng or random).random() * count) * step
    return builtins.min(builtins.max(value, low), high)


def controlled_inputs(input_types: dict) -> list[str]:
    """Names of the inputs of an ``INPUT_TYPES()`` dict that have control after generate."""
    inputs, _ = parse_inputs(input_types)
    return [declared.name for declared in inputs if declared.control]
