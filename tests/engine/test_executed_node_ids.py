"""Case 68: ``Executor.executed_node_ids`` with node expansion.

The graph: Int "1" → Expander "2" (expands into two Add nodes) → Add "4" → Output "3".
"""

from .cache_nodes import LOG, ui_value


def expanding_prompt(value=5, offset=0):
    return {
        "1": {"class_type": "Int", "inputs": {"value": value}},
        "2": {"class_type": "Expander", "inputs": {"value": ["1", 0]}},
        "4": {"class_type": "Add", "inputs": {"a": ["2", 0], "b": offset}},
        "3": {"class_type": "Output", "inputs": {"value": ["4", 0]}},
    }


def children_of(ids, prompt):
    return {i for i in ids if i not in prompt}


def test_expanded_children_appear_on_the_first_run(ex):
    prompt = expanding_prompt()
    r = ex.execute(prompt)
    assert r.status == "success"
    assert ui_value(r, "3") == 7
    children = children_of(ex.executed_node_ids, prompt)
    assert len(children) == 2
    assert set(prompt) <= ex.executed_node_ids
    assert children <= r.executed  # ephemeral ids are reported too
    assert LOG.calls["Add"] == 3


def test_second_run_has_children_only_without_a_cache(ex, cache_mode):
    prompt = expanding_prompt()
    ex.execute(prompt)
    first_children = children_of(ex.executed_node_ids, prompt)
    r = ex.execute(prompt)
    assert ui_value(r, "3") == 7
    if cache_mode == "none":
        # expansion prefixes are deterministic: the same children run again
        assert children_of(ex.executed_node_ids, prompt) == first_children
        assert set(prompt) <= ex.executed_node_ids
    else:
        assert ex.executed_node_ids == set()


def test_a_cached_expander_feeding_a_rerun_node_runs_no_children(ex, cache_mode):
    ex.execute(expanding_prompt())
    prompt = expanding_prompt(offset=10)
    r = ex.execute(prompt)
    assert ui_value(r, "3") == 17
    if cache_mode == "none":
        assert len(children_of(ex.executed_node_ids, prompt)) == 2
    else:
        assert ex.executed_node_ids == {"4", "3"}
        assert "2" in r.cached


def test_changed_expander_input_runs_its_children_again(ex):
    ex.execute(expanding_prompt())
    prompt = expanding_prompt(value=6)
    r = ex.execute(prompt)
    assert ui_value(r, "3") == 8
    assert len(children_of(ex.executed_node_ids, prompt)) == 2
    assert {"1", "2", "4", "3"} <= ex.executed_node_ids


def test_cleared_when_the_next_prompt_starts(ex):
    ex.execute(expanding_prompt())
    other = {
        "10": {"class_type": "Int", "inputs": {"value": 1}},
        "11": {"class_type": "Output", "inputs": {"value": ["10", 0]}},
    }
    ex.execute(other)
    assert ex.executed_node_ids == {"10", "11"}


def test_cleared_by_reset(ex):
    ex.execute(expanding_prompt())
    assert ex.executed_node_ids
    ex.reset()
    assert ex.executed_node_ids == set()
    r = ex.execute(expanding_prompt())  # reset drops the caches too
    assert {"1", "2", "4", "3"} <= r.executed
