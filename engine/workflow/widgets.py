"""A node's ``widgets_values`` read into named inputs, and written back in the same layout.

The frontend serialises a node's widgets as one array in widget creation order:
the spec's widget inputs in order (``NodeSpec.widgets``), each followed by the
UI-only widgets it brings: the control-after-generate mode after a controlled
input, a filter list after a controlled COMBO, an upload button after an input
with ``image_upload`` (or ``video_upload``...). Widgets that do not serialise
leave ``null`` holes. Newer files add ``widgets_values_named`` ({name: value}),
and a node pack may write ``widgets_values`` as such a dict.

An extra value is consumed only when it looks like one (a control mode, an
upload kind, or, for a filter list, a string while more values remain than
widgets), so files written before a UI widget existed still line up.

``read_widget_values`` returns the values by input name and the *layout*: what
each element of the array stood for. ``write_widget_values`` rebuilds the array
from that layout with new values, leaving every other element as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..nodespec import NO_DEFAULT, InputSpec

__all__ = [
    "CONTROL_VALUES",
    "WidgetValues",
    "fallback_value",
    "policy_of",
    "read_widget_values",
    "to_wire",
    "widget_sequence",
    "write_widget_values",
]

CONTROL_VALUES = ("fixed", "increment", "decrement", "randomize", "increment-wrap")
UPLOAD_OPTIONS = ("image_upload", "video_upload", "audio_upload", "animated_image_upload")
UPLOAD_VALUES = ("image", "video", "audio", "animated_image", None)
_END: Any = object()  # past the end of the array


@dataclass
class WidgetValues:
    """What a node's widget values say, by input name.

    ``layout``: one (role, input name) per element of the array as read, role
    ``"value"``, ``"control"``, ``"extra"`` (filter list, upload button) or
    ``"unused"``; ``positions``: input name -> index of its value in the array
    (given to every widget input, past the end for missing ones).
    """

    values: dict[str, Any] = field(default_factory=dict)  # as in the file; holes left out
    control: dict[str, str] = field(default_factory=dict)  # controlled input -> mode as read
    positions: dict[str, int | str] = field(default_factory=dict)
    layout: list[tuple[str, str | None]] = field(default_factory=list)
    unused: list[Any] = field(default_factory=list)
    shape: str = "list"  # "list" | "dict" | "none"
    end: int | None = None  # where in widget_sequence() the array ended, if it ended early


def widget_sequence(widgets: Sequence[InputSpec]) -> list[tuple[str, InputSpec]]:
    """(role, input) in serialised order, every optional UI widget included."""
    sequence = []
    for declared in widgets:
        sequence.append(("value", declared))
        if declared.control:
            sequence.append(("control", declared))
            if declared.choices is not None:
                sequence.append(("filter", declared))
        if _uploads(declared):
            sequence.append(("upload", declared))
    return sequence


def read_widget_values(
    widgets: Sequence[InputSpec], widgets_values: Any, named: Any = None
) -> WidgetValues:
    """Read a node's values (see the module docstring). Never raises."""
    result = WidgetValues()
    if isinstance(widgets_values, list):
        _read_list(widgets, widgets_values, result)
    elif isinstance(widgets_values, dict):
        result.shape = "dict"
        names = {w.name for w in widgets}
        for key, value in widgets_values.items():
            if key in names:
                if value is not None:
                    result.values[key] = value
                result.positions[key] = key
            elif key == "control_after_generate" and isinstance(value, str):
                controlled = [w.name for w in widgets if w.control]
                if controlled and value in CONTROL_VALUES:
                    result.control[controlled[0]] = value
            else:
                result.unused.append({key: value})
    else:
        result.shape = "none"
        for index, declared in enumerate(widgets):
            result.positions[declared.name] = index
    if isinstance(named, dict):
        for declared in widgets:
            if declared.name in named and named[declared.name] is not None:
                result.values[declared.name] = named[declared.name]
    return result


def _read_list(widgets: Sequence[InputSpec], values: list, result: WidgetValues) -> None:
    sequence = widget_sequence(widgets)
    value_slots = sum(1 for role, _ in sequence if role == "value")
    index = 0
    seen_values = 0
    for step, (role, declared) in enumerate(sequence):
        name = declared.name
        here = values[index] if index < len(values) else _END
        if here is _END and result.end is None:
            result.end = step
        if role == "value":
            seen_values += 1
            result.positions[name] = index
            if here is not _END:
                if here is not None:
                    result.values[name] = here
                result.layout.append(("value", name))
            index += 1
            continue
        if here is _END:
            continue
        remaining_values = len(values) - index - 1
        remaining_slots = value_slots - seen_values
        if role == "control":
            taken = isinstance(here, str) and here in CONTROL_VALUES
            if taken:
                result.control[name] = here
        elif role == "filter":
            taken = isinstance(here, str) and remaining_values >= remaining_slots
        else:  # upload button
            taken = here in UPLOAD_VALUES and not (
                here is None and remaining_values < remaining_slots
            )
        if taken:
            result.layout.append(("control" if role == "control" else "extra", name))
            index += 1
    for value in values[index:]:
        result.layout.append(("unused", None))
        # An upload button's value after the widgets is the frontend's, not a lost value.
        if not (value in UPLOAD_VALUES and any(_uploads(w) for w in widgets)):
            result.unused.append(value)


def _uploads(declared: InputSpec) -> bool:
    return any(declared.options.get(option) for option in UPLOAD_OPTIONS)


def write_widget_values(
    read: WidgetValues,
    original: Any,
    widgets: Sequence[InputSpec],
    values: dict[str, Any],
    control: dict[str, str],
) -> Any:
    """``original`` (a node's ``widgets_values``) with ``values`` and ``control`` written in.

    ``read``: what ``read_widget_values`` made of ``original``. Inputs absent
    from ``values`` keep their element; a controlled input gets a control
    element if it had none. Returns a new list (or dict).
    """
    if read.shape == "dict" and isinstance(original, dict):
        out = dict(original)
        for name, value in values.items():
            out[name] = value
        return out
    if read.shape != "list" or not isinstance(original, list):
        return fresh_widget_values(widgets, values, control)
    out: list = []
    had_control = {name for role, name in read.layout if role == "control"}
    for position, (role, name) in enumerate(read.layout):
        element = original[position]
        if role == "value" and name in values:
            element = values[name]
        elif role == "control" and name in control:
            element = control[name]
        out.append(element)
        if role == "value" and name not in had_control and name in control:
            out.append(control[name])
    # Widgets the array was too short for, written as a new array would have them.
    if read.end is not None:
        out.extend(_elements(widget_sequence(widgets)[read.end :], values, control))
    return out


def fresh_widget_values(
    widgets: Sequence[InputSpec], values: dict[str, Any], control: dict[str, str]
) -> list:
    """A new ``widgets_values`` list: each widget's value, a control mode after controlled
    ones, an empty filter after a controlled COMBO (as the frontend writes them)."""
    return _elements(widget_sequence(widgets), values, control)


def _elements(sequence, values: dict[str, Any], control: dict[str, str]) -> list:
    out: list = []
    for role, declared in sequence:
        if role == "value":
            value = values.get(declared.name, NO_DEFAULT)
            if value is NO_DEFAULT:
                value = fallback_value(declared)
            out.append(None if value is NO_DEFAULT else value)
        elif role == "control":
            out.append(control.get(declared.name, "fixed"))
        elif role == "filter":
            out.append("")
    return out


def fallback_value(declared: InputSpec) -> Any:
    """The value a widget shows before it is set: its default, else a COMBO's first
    choice, else the type's zero (the editor's rule); ``NO_DEFAULT`` for other types."""
    if declared.default is not NO_DEFAULT:
        return declared.default
    choices = declared.choices
    if choices:
        return choices[0]
    input_type = declared.type
    if input_type in ("INT", "FLOAT"):
        minimum = declared.options.get("min", 0)
        return minimum if input_type == "INT" else float(minimum)
    if input_type == "STRING":
        return ""
    if input_type == "BOOLEAN":
        return False
    return NO_DEFAULT


def to_wire(value: Any) -> Any:
    """A widget value as a prompt constant: a list wrapped as ``{"__value__": [...]}``."""
    return {"__value__": value} if isinstance(value, list) else value


def from_wire(value: Any) -> Any:
    """A prompt constant as a widget value (the inverse of ``to_wire``)."""
    if isinstance(value, dict) and set(value) == {"__value__"}:
        return value["__value__"]
    return value


def policy_of(mode: Any) -> str | None:
    """A control-after-generate mode as a seed policy (``engine.seeds``), or None."""
    if mode == "increment-wrap":
        return "increment"
    return mode if isinstance(mode, str) and mode in CONTROL_VALUES else None
