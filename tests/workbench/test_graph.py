"""Code-first graphs: calls build the API prompt, and bad keywords fail at the call."""

import inspect
from typing import Literal

import pytest

from engine import Executor, Image, NodeRegistry, node
from workbench.graph import Graph, Node, Output


@node
def number(value: int = 3) -> int:
    return value


@node
def scale(x: int, factor: float = 2.0, mode: Literal["up", "down"] = "up") -> float:
    return x * factor if mode == "up" else x / factor


@node
def split(x: int) -> tuple[int, int]:
    return x // 2, x - x // 2


@node
def picture(width: int = 4) -> Image:
    return width


@node(output=True)
def show(value: float) -> None:
    pass


@node(output=True)
def view(image: Image) -> None:
    pass


@node
def total(**values: int) -> int:
    return sum(values.values())


@pytest.fixture
def registry():
    reg = NodeRegistry()
    for fn in (number, scale, split, picture, show, view, total):
        reg.register(fn)
    return reg


def test_calls_build_the_prompt_with_readable_stable_ids(registry):
    def build():
        g = Graph(registry)
        n = g.number(value=5)
        s = g.scale(x=n, factor=0.5)
        g.show(value=s)
        return g

    prompt = build().to_prompt()
    assert prompt == {
        "number_1": {"class_type": "number", "inputs": {"value": 5}},
        "scale_1": {
            "class_type": "scale",
            "inputs": {"x": ["number_1", 0], "factor": 0.5, "mode": "up"},
        },
        "show_1": {"class_type": "show", "inputs": {"value": ["scale_1", 0]}},
    }
    assert build().to_prompt() == prompt  # same build, same ids: reruns hit the cache
    r = Executor(registry).execute(prompt)
    assert r.status == "success" and r.executed == set(prompt)


def test_multi_output_nodes_unpack_and_index(registry):
    g = Graph(registry)
    halves = g.split(x=g.number(value=7))
    assert isinstance(halves, Node) and len(halves) == 2
    low, high = halves
    assert (low.slot, high.slot) == (0, 1)
    assert halves[1].link() == [halves.id, 1]
    with pytest.raises(KeyError, match="split has no output 'nope'"):
        halves["nope"]
    with pytest.raises(TypeError, match="index it"):
        g.scale(x=halves)


def test_keyword_errors_name_the_node_and_the_valid_inputs(registry):
    g = Graph(registry)
    with pytest.raises(
        TypeError,
        match=r"scale\(\) got an unexpected input 'fcator'; did you mean 'factor'\? "
        r"\(valid inputs: x, factor, mode\)",
    ):
        g.scale(x=1, fcator=2.0)
    with pytest.raises(TypeError, match=r"scale\(\): input 'x' expects INT, got str"):
        g.scale(x="one")
    with pytest.raises(ValueError, match=r"must be one of \['up', 'down'\]"):
        g.scale(x=1, mode="sideways")
    with pytest.raises(
        TypeError, match=r"input 'x' expects INT, but picture_1 output 'IMAGE' gives IMAGE"
    ):
        g.scale(x=g.picture())
    with pytest.raises(TypeError, match=r"view\(\) missing required input 'image' \(IMAGE\)"):
        g.view()
    assert g.show().node_id == "show_1"  # a widget input left out gets its default
    with pytest.raises(AttributeError, match="no node type 'Scale'; did you mean 'scale'"):
        _ = g.Scale
    assert set(g.to_prompt()) == {"picture_1", "show_1"}  # failed calls add nothing


def test_undeclared_links_only_for_nodes_taking_kwargs(registry):
    g = Graph(registry)
    a, b = g.number(value=1), g.number(value=2)
    g.total(first=a, second=b)
    assert g.to_prompt()["total_1"]["inputs"] == {
        "first": ["number_1", 0],
        "second": ["number_2", 0],
    }
    with pytest.raises(TypeError, match="unexpected input 'extra'"):
        g.scale(x=a, extra=b)


def test_completion_lists_node_types_with_signatures(registry):
    g = Graph(registry)
    assert {"number", "scale", "show", "split"} <= set(dir(g))
    signature = inspect.signature(g.scale)
    assert list(signature.parameters) == ["_id", "x", "factor", "mode"]
    assert signature.parameters["factor"].default == 2.0
    assert signature.parameters["x"].annotation == "INT"


def test_set_changes_inputs_and_list_constants_are_wrapped(registry):
    g = Graph(registry)
    s = g.scale(x=1)
    g.node(s).set(factor=3.0)
    assert g.to_prompt()["scale_1"]["inputs"]["factor"] == 3.0
    p = g.picture(_id="pic")
    assert isinstance(p, Output) and p.node_id == "pic"
    with pytest.raises(ValueError, match="already in the graph"):
        g.picture(_id="pic")


def test_from_prompt_round_trips(registry):
    g = Graph(registry)
    g.show(value=g.scale(x=g.number()))
    again = Graph.from_prompt(g.to_prompt(), registry)
    assert again.to_prompt() == g.to_prompt()
    again.number(value=9)  # new ids continue after the existing ones
    assert "number_2" in again.to_prompt()
    with pytest.raises(ValueError, match="unknown node type 'Nope'"):
        Graph.from_prompt({"1": {"class_type": "Nope", "inputs": {}}}, registry)


# --- one graph, two views (docs/graph-model.md) -------------------------------------------


def test_every_edit_reaches_subscribers_as_an_op(registry):
    g = Graph(registry)
    ops = []
    unsubscribe = g.subscribe(ops.append)
    n = g.number(value=1)
    s = g.scale(x=n)
    g.node(s).set(factor=4.0)
    g.set_ui(s, pos=[10, 20])
    g.remove(n)
    unsubscribe()
    g.number()
    assert [(op["op"], op["id"]) for op in ops] == [
        ("add_node", "number_1"),
        ("add_node", "scale_1"),
        ("set_inputs", "scale_1"),
        ("set_ui", "scale_1"),
        ("remove_node", "number_1"),
    ]
    assert ops[1]["inputs"] == {"x": ["number_1", 0], "factor": 2.0, "mode": "up"}
    assert ops[2]["inputs"] == {"factor": 4.0} and ops[3]["ui"] == {"pos": [10, 20]}


def test_an_editors_ops_apply_with_the_checks_of_a_call(registry):
    g = Graph(registry)
    seen = []
    g.subscribe(seen.append)
    added = g.apply({"op": "add_node", "class_type": "scale", "ui": {"pos": [1, 2]}}, "canvas")
    assert added["id"] == "scale_1"
    assert added["inputs"] == {"x": 0, "factor": 2.0, "mode": "up"}  # widgets get defaults
    assert seen[-1]["origin"] == "canvas"  # so the canvas can skip its own echo
    g.apply({"op": "add_node", "id": "7", "class_type": "number", "inputs": {"value": 4}})
    g.apply({"op": "set_inputs", "id": "scale_1", "inputs": {"x": ["7", 0]}})
    assert g.to_prompt()["scale_1"]["inputs"]["x"] == ["7", 0]
    with pytest.raises(TypeError, match="input 'x' expects INT"):
        g.apply({"op": "set_inputs", "id": "scale_1", "inputs": {"x": "seven"}})
    with pytest.raises(ValueError, match="has no output 3"):
        g.apply({"op": "set_inputs", "id": "scale_1", "inputs": {"x": ["7", 3]}})
    with pytest.raises(KeyError, match="no node 'nope'"):
        g.apply({"op": "set_ui", "id": "nope", "ui": {}})
    g.apply({"op": "remove_input", "id": "scale_1", "name": "x"})
    assert "x" not in g.to_prompt()["scale_1"]["inputs"]
    assert g.node("scale_1").ui == {"pos": [1, 2]}


def test_unknown_node_types_are_kept_as_placeholders_and_left_out_of_the_prompt(registry):
    g = Graph(registry)
    g.apply(
        {
            "op": "add_node",
            "id": "9",
            "class_type": "FancyPackNode",
            "inputs": {"strength": 0.3},
            "ui": {"widgets_values": [0.3, "x"]},
        }
    )
    g.apply({"op": "add_node", "id": "1", "class_type": "show", "inputs": {"value": ["9", 0]}})
    assert "9" in g and "9" not in g.to_prompt()
    r = Executor(registry).execute(g.to_prompt())
    assert r.status == "invalid" and "1" in r.node_errors  # the input that needs it is named
    assert g.node("9").ui["widgets_values"] == [0.3, "x"]


def test_muted_nodes_are_left_out_and_bypassed_ones_resolved_by_type(registry):
    @node
    def to_image(x: int) -> Image:
        return x

    @node
    def blend(image: Image, amount: float = 0.5, mask: Image | None = None) -> Image:
        return image

    @node
    def mixed(n: int, picture: Image) -> Image:
        return picture

    for fn in (to_image, blend, mixed):
        registry.register(fn)
    g = Graph(registry)
    pic = g.to_image(x=g.number())
    blended = g.blend(image=pic)
    g.view(image=blended)
    g.set_mode(blended, "bypass")
    prompt = g.to_prompt()
    assert "blend_1" not in prompt and prompt["view_1"]["inputs"]["image"] == ["to_image_1", 0]
    # Slot 0's input is an INT: the IMAGE output resolves to the input of its exact type.
    other = g.mixed(n=g.number(), picture=pic)
    g.view(image=other)
    g.set_mode(other, "bypass")
    assert g.to_prompt()["view_2"]["inputs"]["image"] == ["to_image_1", 0]
    g.set_mode(pic, "mute")
    prompt = g.to_prompt()
    assert "to_image_1" not in prompt
    assert prompt["view_1"]["inputs"]["image"] == ["to_image_1", 0]  # dangling: named by validation
    g.set_mode(pic, "always")
    assert "to_image_1" in g.to_prompt()
    with pytest.raises(ValueError, match="mode must be one of"):
        g.set_mode(pic, "sleep")
