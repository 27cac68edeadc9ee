"""Case 66: a consumer's cache key leaves out what sits behind lazy inputs it did not evaluate.

The graph: ``LazySwitch`` "4" picks ``on_true`` (Int "1") or ``on_false``
(Int "2" → Add "6"); its ``switch`` is an eager link from "3".
"""

import pytest

from .cache_nodes import ui_value


def switch_graph(switch=True, a=1, b=2, b_offset=0):
    return {
        "1": {"class_type": "Int", "inputs": {"value": a}},
        "2": {"class_type": "Int", "inputs": {"value": b}},
        "6": {"class_type": "Add", "inputs": {"a": ["2", 0], "b": b_offset}},
        "3": {"class_type": "Bool", "inputs": {"value": switch}},
        "4": {
            "class_type": "LazySwitch",
            "inputs": {"switch": ["3", 0], "on_true": ["1", 0], "on_false": ["6", 0]},
        },
        "5": {"class_type": "Output", "inputs": {"value": ["4", 0]}},
    }


def test_first_run_skips_the_branch_the_switch_did_not_ask_for(ex):
    r = ex.execute(switch_graph())
    assert r.status == "success"
    assert r.executed == {"1", "3", "4", "5"}
    assert ui_value(r, "5") == 1


@pytest.mark.parametrize(
    "change",
    [{"b": 99}, {"b_offset": 7}, {"b": 99, "b_offset": 7}],
    ids=["ancestor", "direct", "both"],
)
def test_unevaluated_lazy_ancestor_change_keeps_consumer_cached(ex, cache_mode, change):
    ex.execute(switch_graph())
    r = ex.execute(switch_graph(**change))
    assert r.status == "success"
    assert ui_value(r, "5") == 1
    assert not r.executed & {"2", "6"}, "the unevaluated branch must not run"
    if cache_mode == "none":
        assert r.executed == {"1", "3", "4", "5"}
    else:
        assert r.executed == set()
        assert "5" in r.cached


def test_unevaluated_lazy_ancestor_change_keeps_consumer_cached_when_it_is_the_target(
    ex, cache_mode
):
    ex.execute(switch_graph())
    r = ex.execute(switch_graph(b=99), outputs=["4"])
    assert r.status == "success"
    if cache_mode == "none":
        assert r.executed == {"1", "3", "4"}
    else:
        assert r.executed == set()
        assert "4" in r.cached
        assert ex.get_output("4") == (1,)


def test_evaluated_lazy_input_change_reruns_consumer(ex, cache_mode):
    ex.execute(switch_graph())
    r = ex.execute(switch_graph(a=5))
    assert r.status == "success"
    assert ui_value(r, "5") == 5
    if cache_mode == "none":
        assert r.executed == {"1", "3", "4", "5"}
    else:
        assert r.executed == {"1", "4", "5"}
        assert "3" in r.cached


def test_evaluated_and_unevaluated_change_together_runs_only_the_evaluated_branch(ex, cache_mode):
    ex.execute(switch_graph())
    r = ex.execute(switch_graph(a=5, b=99))
    assert ui_value(r, "5") == 5
    expected = {"1", "3", "4", "5"} if cache_mode == "none" else {"1", "4", "5"}
    assert r.executed == expected


def test_eager_link_change_reruns_consumer_and_evaluates_the_other_branch(ex, cache_mode):
    ex.execute(switch_graph(switch=True))
    r = ex.execute(switch_graph(switch=False))
    assert r.status == "success"
    assert ui_value(r, "5") == 2
    assert "1" not in r.executed
    assert {"2", "6", "3", "4", "5"} <= r.executed


def test_evidence_follows_the_latest_evaluation(ex, cache_mode):
    """After the switch flips, the *other* branch is the one that no longer counts."""
    ex.execute(switch_graph(switch=True))
    ex.execute(switch_graph(switch=False))
    r = ex.execute(switch_graph(switch=False, a=42))
    assert ui_value(r, "5") == 2
    assert "1" not in r.executed
    if cache_mode == "none":
        assert r.executed == {"2", "6", "3", "4", "5"}
    else:
        assert r.executed == set()
    # ... while the now-evaluated branch does count.
    r = ex.execute(switch_graph(switch=False, a=42, b=10))
    assert ui_value(r, "5") == 10
    if cache_mode != "none":
        assert r.executed == {"2", "6", "4", "5"}


def test_eager_ancestor_change_reruns_consumer_even_with_an_equal_value(ex, cache_mode):
    """Keys come from signatures, not values: Greater(5 > 0) and Greater(6 > 0) are both True."""

    def graph(n):
        g = switch_graph()
        g["9"] = {"class_type": "Int", "inputs": {"value": n}}
        g["3"] = {"class_type": "Greater", "inputs": {"a": ["9", 0], "b": 0}}
        return g

    ex.execute(graph(5))
    r = ex.execute(graph(6))
    assert ui_value(r, "5") == 1
    if cache_mode == "none":
        assert r.executed == {"9", "3", "1", "4", "5"}
    else:
        assert r.executed == {"9", "3", "4", "5"}
        assert "1" in r.cached


def test_switch_own_constant_is_part_of_the_key(ex, cache_mode):
    def graph(switch):
        g = switch_graph()
        g["4"]["inputs"]["switch"] = switch
        del g["3"]
        return g

    ex.execute(graph(True))
    r = ex.execute(graph(False))
    assert ui_value(r, "5") == 2
    assert {"2", "6", "4", "5"} <= r.executed
    assert "1" not in r.executed
