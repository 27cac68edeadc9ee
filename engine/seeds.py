"""Seed policies: control after generate, resolved once per job at submit time.

ComfyUI's editor gives a seed widget (an INT input named ``seed`` or
``noise_seed``, or one whose options set ``control_after_generate``; see
``nodespec.py``) a policy that changes its value after each queued run:
``fixed``, ``increment``, ``decrement`` or ``randomize``. There the frontend
applies it, and a batch of N partial runs gets N identical seeds. Here the
queue applies it (``PromptQueue.submit(..., seed_control=...)``), the same for
code and the editor: job *i* of a batch runs with the value the policy gives
after *i* steps, records it (``Job.seeds``, the history's ``seeds``), and
``Job.next_seeds`` holds the value after it, which the graph keeps for the next
run (as ComfyUI's widget shows the next seed).

The step rule follows ComfyUI's frontend: the bounds are first limited to
±2**50 (the range JavaScript numbers hold exactly), the value moves by
``step``, and the result is clamped into the bounds, so ``increment`` at the
maximum stays there. A COMBO input moves through its choices.
"""

from __future__ import annotations

import builtins
import math
import random
from typing import Any

from .nodespec import NodeSpec
from .registry import NodeRegistry

__all__ = [
    "CONTROL_MODES",
    "JS_SAFE_LIMIT",
    "SeedPlan",
    "apply_control",
    "plan_seeds",
    "with_seeds",
]

CONTROL_MODES = ("fixed", "increment", "decrement", "randomize")
JS_SAFE_LIMIT = 1125899906842624  # 2**50, ComfyUI's frontend bound for these widgets
SEED_MAX = 0xFFFFFFFFFFFFFFFF  # an unsigned 64-bit seed, when the input declares no max

_random = random.Random()


def apply_control(
    value: float,
    mode: str,
    min: float = 0,
    max: float = SEED_MAX,
    rng: Any = None,
    step: float = 1,
) -> float:
    """The value for the next run, after ``mode`` is applied to ``value``.

    ``rng`` is anything with a ``random()`` method returning a float in [0, 1)
    (a ``random.Random``; a module-wide one when None). ``randomize`` picks
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
        value = low + math.floor((rng or _random).random() * count) * step
    return builtins.min(builtins.max(value, low), high)


class SeedPlan:
    """A batch's values (``{node id: {input: value}}``): job *i* uses ``used[i]``;
    ``after[i]`` are the values after it."""

    def __init__(self, used: list[dict], after: list[dict]):
        self.used = used
        self.after = after


def with_seeds(prompt: dict, values: dict[str, dict]) -> dict:
    """``prompt`` with the inputs ``values`` gives (nodes copied where they change)."""
    job = dict(prompt)
    for node_id, inputs in values.items():
        if node_id in job:
            job[node_id] = {**job[node_id], "inputs": {**job[node_id].get("inputs", {}), **inputs}}
    return job


def plan_seeds(
    prompt: dict,
    control: dict[str, dict[str, str]],
    registry: NodeRegistry,
    number: int,
    rng: Any = None,
) -> SeedPlan:
    """Apply ``control`` (node id -> {input: policy}) to ``number`` jobs of ``prompt``.

    Inputs that are links, absent, or not controlled in the node's spec are left
    alone. Raises ``ValueError`` for an unknown policy. ``prompt`` is not changed.
    """
    current: dict[str, dict[str, Any]] = {}
    rules: list[tuple[str, str, str, Any]] = []  # node, input, policy, its spec
    for node_id, policies in control.items():
        node = prompt.get(node_id)
        node_type = registry.get(node.get("class_type")) if isinstance(node, dict) else None
        if node_type is None:
            continue
        spec: NodeSpec = node_type.spec()
        for name, mode in policies.items():
            if mode not in CONTROL_MODES:
                raise ValueError(
                    f"node {node_id}: seed policy for {name!r} must be one of "
                    f"{', '.join(CONTROL_MODES)}, not {mode!r}"
                )
            value = node.get("inputs", {}).get(name)
            declared = spec.input(name)
            if declared is None or not declared.control or value is None or isinstance(value, list):
                continue
            current.setdefault(node_id, {})[name] = value
            rules.append((node_id, name, mode, declared))
    used, after = [], []
    for _ in range(number):
        used.append({n: dict(v) for n, v in current.items()})
        for node_id, name, mode, declared in rules:
            current[node_id][name] = _next(current[node_id][name], mode, declared, rng)
        after.append({n: dict(v) for n, v in current.items()})
    return SeedPlan(used, after)


def _next(value: Any, mode: str, declared, rng: Any) -> Any:
    choices = declared.choices
    if choices is not None:  # a COMBO: move through its choices
        if not choices or mode == "fixed":
            return value
        index = choices.index(value) if value in choices else 0
        if mode == "randomize":
            return choices[math.floor((rng or _random).random() * len(choices))]
        index += 1 if mode == "increment" else -1
        return choices[builtins.min(builtins.max(index, 0), len(choices) - 1)]
    options = declared.options
    step = options.get("step", 1)
    step = step if isinstance(step, int) and step > 0 else 1
    return apply_control(
        value, mode, options.get("min", 0), options.get("max", SEED_MAX), rng=rng, step=step
    )
