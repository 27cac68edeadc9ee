"""Dynamic inputs (Autogrow, DynamicCombo) as flat inputs, and their nesting back."""

from __future__ import annotations

from engine.dynamic import Nesting, autogrow, dynamic_combo
from engine.nodespec import parse_inputs


def test_autogrow_spells_out_one_socket_per_name():
    sections = autogrow("values", ("INT", {"default": 3}), ["a", "b", "c"], required=1)
    assert list(sections["required"]) == ["values.a"]
    assert list(sections["optional"]) == ["values.b", "values.c"]
    kind, options = sections["optional"]["values.b"]
    assert kind == "INT" and options["forceInput"] is True  # a widget template becomes a socket
    assert options["dynamic"] == {"group": "values", "kind": "autogrow", "key": "b"}
    inputs, _ = parse_inputs(sections)
    assert [(i.name, i.kind) for i in inputs] == [
        ("values.a", "link"),
        ("values.b", "link"),
        ("values.c", "link"),
    ]


def test_dynamic_combo_lists_each_option_input_once_with_the_choices_that_have_it():
    sections = dynamic_combo(
        "size",
        {
            "exact": {"width": ("INT", {"default": 8}), "height": ("INT", {"default": 4})},
            "by width": {"width": ("INT", {"default": 99})},
            "none": {},
        },
        {"tooltip": "how"},
    )
    choices, combo = sections["required"]["size"]
    assert choices == ["exact", "by width", "none"] and combo["tooltip"] == "how"
    assert list(sections["optional"]) == ["size.width", "size.height"]
    width = sections["optional"]["size.width"][1]
    assert width["default"] == 8  # the first choice's spec
    assert width["dynamic"]["when"] == ["exact", "by width"]


def test_nesting_builds_comfyuis_dicts_from_flat_values():
    size = dynamic_combo(
        "size",
        {
            "exact": {"width": ("INT", {"default": 8}), "height": ("INT", {"default": 4})},
            "by width": {"width": ("INT", {})},
        },
    )
    values = autogrow("values", ("FLOAT", {}), ["a", "b", "c"])
    input_types = {
        "required": {"x": ("INT", {}), **size["required"]},
        "optional": {**values["optional"], **size["optional"]},
    }
    nesting = Nesting(input_types)
    assert nesting.groups == {"values", "size"}
    flat = {
        "x": 1,
        "values.c": 3.0,
        "values.a": 1.0,
        "size": "by width",
        "size.width": 5,
        "size.height": 7,
    }
    assert nesting.nest(flat) == {
        "x": 1,
        "values": {"a": 1.0, "c": 3.0},  # connected ones only, in the group's order
        "size": {"size": "by width", "width": 5},  # the chosen option's inputs only
    }
    # A chosen option's input missing from the prompt gets its default; no value: {}.
    assert nesting.nest({"x": 1, "size": "exact"}) == {
        "x": 1,
        "values": {},
        "size": {"size": "exact", "width": 8, "height": 4},
    }


def test_plain_inputs_do_not_nest():
    nesting = Nesting({"required": {"a.b": ("INT", {})}})
    assert not nesting and nesting.nest({"a.b": 1}) == {"a.b": 1}
