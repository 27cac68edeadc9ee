"""What a value of a built-in type looks like: one check for ``@node`` results and the builder.

A ``@node`` function's return values are checked against its declared output
types (``nodedef``), and the graph builder checks a constant given for a link
input the same way (``workbench.graph``), so a wrong value is named where it is
made instead of failing inside the node that receives it.

============  ==========================================================
type          a value is
============  ==========================================================
``IMAGE``     a floating-point torch tensor ``[batch, height, width, channels]``
``MASK``      a floating-point torch tensor ``[batch, height, width]`` or ``[height, width]``
``LATENT``    a dict with a ``"samples"`` entry
``INT``       an integer (``int``, a numpy integer), not a bool
``FLOAT``     a real number (``int``, ``float``, a numpy float), not a bool
``STRING``    a ``str``
``BOOLEAN``   a ``bool``
============  ==========================================================

Any other type (``MODEL``, a pack's own, ``"*"``, a union ``"A,B"``) has no
check here. The checks are a few ``isinstance`` calls: they run on the engine's
hot path, once per value a ``@node`` returns.
"""

from __future__ import annotations

import numbers
import reprlib
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["checker", "describe", "value_problem"]

_SHORT = reprlib.Repr()  # a value in a message: a long str or list is cut, not spelt out
_SHORT.maxstring = _SHORT.maxother = 60


def _is_image(value: Any) -> bool:
    # torch is imported by whoever made a tensor: no tensor can exist before it.
    torch = sys.modules.get("torch")
    return (
        torch is not None
        and isinstance(value, torch.Tensor)
        and value.ndim == 4
        and value.dtype.is_floating_point
    )


def _is_mask(value: Any) -> bool:
    torch = sys.modules.get("torch")
    return (
        torch is not None
        and isinstance(value, torch.Tensor)
        and value.ndim in (2, 3)
        and value.dtype.is_floating_point
    )


def _is_int(value: Any) -> bool:
    return type(value) is int or (
        isinstance(value, numbers.Integral) and not isinstance(value, bool)
    )


def _is_float(value: Any) -> bool:
    return type(value) in (float, int) or (
        isinstance(value, numbers.Real) and not isinstance(value, bool)
    )


# type -> (check, what a value of it is)
_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "IMAGE": (_is_image, "a float tensor [batch, height, width, channels]"),
    "MASK": (_is_mask, "a float tensor [batch, height, width] or [height, width]"),
    "LATENT": (lambda v: isinstance(v, dict) and "samples" in v, 'a dict with "samples"'),
    "INT": (_is_int, "an int"),
    "FLOAT": (_is_float, "a number"),
    "STRING": (lambda v: isinstance(v, str), "a str"),
    "BOOLEAN": (lambda v: isinstance(v, bool), "a bool"),
}


def checker(io_type: Any) -> Callable[[Any], bool] | None:
    """The check of ``io_type``'s values, or None for a type without one."""
    if type(io_type) is not str:  # a COMBO's list, a pack's str subclass ("any type")
        return None
    entry = _CHECKS.get(io_type)
    return entry[0] if entry is not None else None


def value_problem(io_type: Any, value: Any) -> str | None:
    """None if ``value`` is a good ``io_type`` value (or the type has no check), else
    what such a value is, e.g. ``"an IMAGE is a float tensor [...]"``."""
    check = checker(io_type)
    if check is None or check(value):
        return None
    return f"{'an' if io_type[0] in 'AEIOU' else 'a'} {io_type} is {_CHECKS[io_type][1]}"


def describe(value: Any) -> str:
    """A short account of a value for an error message: type, shape and dtype, or repr."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        return f"a {str(value.dtype).removeprefix('torch.')} tensor of shape {list(value.shape)}"
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple):  # a numpy array
        return f"a {type(value).__module__}.{type(value).__name__} of shape {list(shape)}"
    return f"{type(value).__name__} {_SHORT.repr(value)}"
