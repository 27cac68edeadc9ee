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
        match=r"scale\(\) got an unexpected input 'fcator'; valid inputs: x, factor, mode",
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
