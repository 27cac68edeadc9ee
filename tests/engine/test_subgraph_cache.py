"""Case 67: subgraph internals ("12:1") are not kept when subgraph caching is off; "no_cache" nodes never are.

The graph: Int "1" → [subgraph 12: Add "12:1" → Add "12:2"] → Output "2".
"12:2" is the boundary node (its output leaves the subgraph); "12:1" is internal.
"""

import pytest

from engine import Executor

from .cache_nodes import make_registry, ui_value

ALL = {"1", "12:1", "12:2", "2"}


def subgraph_prompt(inner_b=1, boundary_b=10):
    return {
        "1": {"class_type": "Int", "inputs": {"value": 1}},
        "12:1": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": inner_b}},
        "12:2": {"class_type": "Add", "inputs": {"a": ["12:1", 0], "b": boundary_b}},
        "2": {"class_type": "Output", "inputs": {"value": ["12:2", 0]}},
    }


@pytest.fixture
def ex(cache_mode):
    return Executor(make_registry(), cache=cache_mode, subgraph_caching=False)


def test_internal_nodes_are_not_kept_but_boundary_and_outside_nodes_are(ex, cache_mode):
    r = ex.execute(subgraph_prompt())
    assert r.status == "success"
    assert r.executed == ALL
    assert ui_value(r, "2") == 12
    assert ex.get_output("12:1") is None
    if cache_mode != "none":
        assert ex.get_output("12:2") == (12,)
        assert ex.get_output("1") == (1,)


def test_unchanged_requeue_does_nothing(ex, cache_mode):
    ex.execute(subgraph_prompt())
    r = ex.execute(subgraph_prompt())
    assert r.status == "success"
    assert ui_value(r, "2") == 12
    assert r.executed == (ALL if cache_mode == "none" else set())


def test_editing_an_internal_node_reruns_the_chain_from_it(ex, cache_mode):
    ex.execute(subgraph_prompt())
    r = ex.execute(subgraph_prompt(inner_b=2))
    assert ui_value(r, "2") == 13
    if cache_mode == "none":
        assert r.executed == ALL
    else:
        assert r.executed == {"12:1", "12:2", "2"}
        assert "1" in r.cached


def test_invalidating_the_boundary_recomputes_the_uncached_internals(ex, cache_mode):
    ex.execute(subgraph_prompt())
    r = ex.execute(subgraph_prompt(boundary_b=20))
    assert r.status == "success"
    assert ui_value(r, "2") == 22
    if cache_mode == "none":
        assert r.executed == ALL
    else:
        assert r.executed == {"12:1", "12:2", "2"}
        assert "1" in r.cached


def test_with_subgraph_caching_on_internals_are_kept(cache_mode):
    ex = Executor(make_registry(), cache=cache_mode)  # subgraph_caching=True is the default
    ex.execute(subgraph_prompt())
    r = ex.execute(subgraph_prompt(boundary_b=20))
    assert ui_value(r, "2") == 22
    if cache_mode == "none":
        assert r.executed == ALL
    else:
        assert r.executed == {"12:2", "2"}
        assert ex.get_output("12:1") == (2,)


def test_an_output_node_inside_a_subgraph_is_kept(ex, cache_mode):
    prompt = subgraph_prompt()
    prompt["12:3"] = {"class_type": "Output", "inputs": {"value": ["12:1", 0]}}
    r = ex.execute(prompt)
    assert r.executed == ALL | {"12:3"}
    assert ui_value(r, "12:3") == 2
    r = ex.execute(prompt)
    assert r.executed == (ALL | {"12:3"} if cache_mode == "none" else set())
    assert ui_value(r, "12:3") == 2


def test_nested_subgraph_internals_are_not_kept(ex, cache_mode):
    prompt = {
        "1": {"class_type": "Int", "inputs": {"value": 1}},
        "12:5:1": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": 1}},
        "12:5:2": {"class_type": "Add", "inputs": {"a": ["12:5:1", 0], "b": 1}},
        "2": {"class_type": "Output", "inputs": {"value": ["12:5:2", 0]}},
    }
    r = ex.execute(prompt)
    assert ui_value(r, "2") == 3
    assert ex.get_output("12:5:1") is None
    r = ex.execute(prompt)
    assert r.executed == ({"1", "12:5:1", "12:5:2", "2"} if cache_mode == "none" else set())


@pytest.mark.parametrize("subgraph_caching", [True, False])
def test_no_cache_node_is_never_kept(cache_mode, subgraph_caching):
    ex = Executor(make_registry(), cache=cache_mode, subgraph_caching=subgraph_caching)

    def prompt(inner_b=1, boundary_b=10):
        p = subgraph_prompt(inner_b, boundary_b)
        p["1"]["no_cache"] = True
        return p

    r = ex.execute(prompt())
    assert r.status == "success"
    assert r.executed == ALL
    assert ex.get_output("1") is None

    r = ex.execute(prompt())  # nothing needs "1": it does not run
    assert r.executed == (ALL if cache_mode == "none" else set())

    r = ex.execute(prompt(inner_b=5))  # "12:1" reruns and needs the uncached "1"
    assert ui_value(r, "2") == 16
    assert {"1", "12:1", "12:2", "2"} <= r.executed
    assert ex.get_output("1") is None


def test_no_cache_on_a_plain_node_outside_any_subgraph(cache_mode):
    ex = Executor(make_registry(), cache=cache_mode)
    prompt = {
        "1": {"class_type": "Int", "inputs": {"value": 1}},
        "2": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": 1}, "no_cache": True},
        "3": {"class_type": "Add", "inputs": {"a": ["2", 0], "b": 1}},
        "4": {"class_type": "Output", "inputs": {"value": ["3", 0]}},
    }
    ex.execute(prompt)
    assert ex.get_output("2") is None
    prompt["3"]["inputs"]["b"] = 2
    r = ex.execute(prompt)
    assert ui_value(r, "4") == 4
    if cache_mode == "none":
        assert r.executed == {"1", "2", "3", "4"}
    else:
        assert r.executed == {"2", "3", "4"}
        assert "1" in r.cached


def test_unchanged_requeue_does_not_rerun_a_no_cache_node_feeding_a_cached_output(cache_mode):
    ex = Executor(make_registry(), cache=cache_mode)
    prompt = {
        "1": {"class_type": "Int", "inputs": {"value": 1}, "no_cache": True},
        "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
    }
    ex.execute(prompt)
    r = ex.execute(prompt)
    assert ui_value(r, "2") == 1
    assert r.executed == ({"1", "2"} if cache_mode == "none" else set())
