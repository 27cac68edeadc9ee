"""What reruns and what comes from the cache, under every cache strategy."""

import math

import psutil
import pytest
import torch

from engine import Executor

from .cache_nodes import LOG, make_registry, ui_value


def two_branches(a=1, b=2, c=10):
    """Int "1" and Int "2" → Add "3" → Output "5"; Int "1" → Add "4"(+c) → Output "6"."""
    return {
        "1": {"class_type": "Int", "inputs": {"value": a}},
        "2": {"class_type": "Int", "inputs": {"value": b}},
        "3": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": ["2", 0]}},
        "4": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": c}},
        "5": {"class_type": "Output", "inputs": {"value": ["3", 0]}},
        "6": {"class_type": "Output", "inputs": {"value": ["4", 0]}},
    }


ALL = {"1", "2", "3", "4", "5", "6"}


# --- what reruns after a change --------------------------------------------


def test_unchanged_rerun_runs_nothing(ex, cache_mode):
    assert ex.execute(two_branches()).executed == ALL
    r = ex.execute(two_branches())
    assert r.status == "success"
    assert (ui_value(r, "5"), ui_value(r, "6")) == (3, 11)
    if cache_mode == "none":
        assert r.executed == ALL
    else:
        assert r.executed == set()
        assert {"5", "6"} <= r.cached


@pytest.mark.parametrize(
    "change, rerun",
    [
        ({"b": 5}, {"2", "3", "5"}),
        ({"c": 20}, {"4", "6"}),
        ({"a": 7}, {"1", "3", "4", "5", "6"}),
    ],
    ids=["leaf", "middle", "root"],
)
def test_one_change_reruns_exactly_the_changed_node_and_its_descendants(
    ex, cache_mode, change, rerun
):
    ex.execute(two_branches())
    r = ex.execute(two_branches(**change))
    assert r.status == "success"
    assert r.executed == (ALL if cache_mode == "none" else rerun)
    assert not r.executed & r.cached


def test_results_are_correct_after_a_partial_rerun(ex):
    ex.execute(two_branches())
    r = ex.execute(two_branches(b=5))
    assert (ui_value(r, "5"), ui_value(r, "6")) == (6, 11)
    assert ex.get_output("3") in (None, (6,))


def test_partial_execution_runs_only_ancestors_of_the_target(ex):
    r = ex.execute(two_branches(), outputs=["3"])
    assert r.status == "success"
    assert r.executed == {"1", "2", "3"}
    assert r.outputs == {}


def test_partial_execution_keeps_the_other_branch_cached(ex, cache_mode):
    ex.execute(two_branches())
    r = ex.execute(two_branches(b=5), outputs=["3"])
    assert r.executed == ({"1", "2", "3"} if cache_mode == "none" else {"2", "3"})
    r = ex.execute(two_branches(b=5))
    if cache_mode == "none":
        assert r.executed == ALL
    else:
        assert r.executed == {"5"}  # "6" (other branch) and "3" (just run) are cached
        assert "6" in r.cached
    assert (ui_value(r, "5"), ui_value(r, "6")) == (6, 11)


# --- IS_CHANGED ------------------------------------------------------------


def is_changed_chain(should_change):
    return {
        "1": {"class_type": "Int", "inputs": {"value": 1}},
        "2": {
            "class_type": "CustomIsChanged",
            "inputs": {"x": ["1", 0], "should_change": should_change},
        },
        "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
    }


def test_custom_is_changed_nan_reruns_every_time(ex, cache_mode):
    """Case 14."""
    assert "2" in ex.execute(is_changed_chain(False)).executed
    r = ex.execute(is_changed_chain(False))
    assert ("2" in r.executed) == (cache_mode == "none")
    for _ in range(2):  # NaN != NaN: runs 3 *and* 4 rerun
        r = ex.execute(is_changed_chain(True))
        assert {"2", "3"} <= r.executed
        assert ui_value(r, "3") == 1


def test_is_changed_gets_constants_only(ex):
    """Case 20: the linked input arrives as None."""
    ex.execute(is_changed_chain(False))
    assert LOG.is_changed_args
    assert all(args == {"x": None, "should_change": False} for args in LOG.is_changed_args)


def test_is_changed_called_once_per_node_per_prompt(ex, cache_mode):
    prompt = {
        "1": {"class_type": "Int", "inputs": {"value": 1}},
        "2": {"class_type": "CountIsChanged", "inputs": {"x": ["1", 0], "tag": "a"}},
        "3": {"class_type": "Add", "inputs": {"a": ["2", 0], "b": 1}},
        "4": {"class_type": "Add", "inputs": {"a": ["2", 0], "b": 2}},
        "5": {"class_type": "Add", "inputs": {"a": ["3", 0], "b": ["4", 0]}},
        "6": {"class_type": "Output", "inputs": {"value": ["5", 0]}},
        "7": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
    }
    for run in range(3):
        before = LOG.is_changed["CountIsChanged"]
        r = ex.execute(prompt)
        assert r.status == "success"
        calls = LOG.is_changed["CountIsChanged"] - before
        if cache_mode == "none":
            assert calls <= 1, f"run {run}"
        else:
            assert calls == 1, f"run {run}"


def test_no_node_code_runs_behind_an_unevaluated_lazy_input(ex, cache_mode):
    """A node only an unevaluated lazy input leads to is neither run nor asked IS_CHANGED;
    its plain producer is signed (cheaply) but not run."""
    prompt = {
        "1": {"class_type": "Bool", "inputs": {"value": True}},
        "2": {"class_type": "Int", "inputs": {"value": 1}},
        "3": {"class_type": "Int", "inputs": {"value": 2}},
        "4": {"class_type": "CountIsChanged", "inputs": {"x": ["3", 0], "tag": "a"}},
        "5": {
            "class_type": "LazySwitch",
            "inputs": {"switch": ["1", 0], "on_true": ["2", 0], "on_false": ["4", 0]},
        },
        "6": {"class_type": "Output", "inputs": {"value": ["5", 0]}},
    }
    r = ex.execute(prompt)
    assert r.status == "success"
    assert ui_value(r, "6") == 1
    assert r.executed == {"1", "2", "5", "6"}
    assert LOG.is_changed["CountIsChanged"] == 0
    prompt["1"]["inputs"]["value"] = False
    r = ex.execute(prompt)
    assert ui_value(r, "6") == 2
    assert {"3", "4"} <= r.executed
    assert LOG.is_changed["CountIsChanged"] == 1


def test_is_changed_value_change_reruns(ex, cache_mode):
    def prompt(tag):
        return {
            "1": {"class_type": "Int", "inputs": {"value": 1}},
            "2": {"class_type": "CountIsChanged", "inputs": {"x": ["1", 0], "tag": tag}},
            "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
        }

    ex.execute(prompt("a"))
    r = ex.execute(prompt("b"))
    assert r.executed == ({"1", "2", "3"} if cache_mode == "none" else {"2", "3"})


# --- NOT_IDEMPOTENT and shared signatures ---------------------------------


def twins(class_type, first=1, second=1):
    return {
        "1": {"class_type": "Int", "inputs": {"value": first}},
        "8": {"class_type": "Int", "inputs": {"value": second}},
        "2": {"class_type": class_type, "inputs": {"x": ["1", 0]}},
        "3": {"class_type": class_type, "inputs": {"x": ["8", 0]}},
        "4": {"class_type": "Add", "inputs": {"a": ["2", 0], "b": ["3", 0]}},
        "5": {"class_type": "Output", "inputs": {"value": ["4", 0]}},
    }


def test_not_idempotent_identical_nodes_are_not_shared(ex):
    r = ex.execute(twins("NotIdempotent"))
    assert r.status == "success"
    assert LOG.calls["NotIdempotent"] == 2
    assert {"2", "3"} <= r.executed
    assert ui_value(r, "5") == 4


def test_identical_nodes_share_one_cache_entry(cache_mode):
    """Computed once in every mode, ``none`` included (as ComfyUI); the twin is ``reused``:
    neither run nor cached (its entry did not exist when the run started)."""
    ex = Executor(make_registry(), cache=cache_mode)
    r = ex.execute(twins("Idempotent"))
    assert ui_value(r, "5") == 4
    assert LOG.calls["Idempotent"] == 1  # same signature: the second is served from the first
    assert len(r.reused & {"2", "3"}) == 1 and len(r.executed & {"2", "3"}) == 1
    assert not r.cached


def test_not_idempotent_node_stays_cached_by_its_own_id(ex, cache_mode):
    ex.execute(twins("NotIdempotent"))
    r = ex.execute(twins("NotIdempotent"))
    if cache_mode == "none":  # the twin Int constants: one computed, one reused
        assert r.executed | r.reused == {"1", "8", "2", "3", "4", "5"} and len(r.reused) == 1
    else:
        assert r.executed == set()
    r = ex.execute(twins("NotIdempotent", second=2))
    assert ui_value(r, "5") == 5
    if cache_mode != "none":
        assert r.executed == {"8", "3", "4", "5"}  # only its own id reruns, not its twin


# --- the objects cache -----------------------------------------------------


def stateful_chain(value=1):
    return {
        "1": {"class_type": "Int", "inputs": {"value": value}},
        "2": {"class_type": "Stateful", "inputs": {"x": ["1", 0]}},
        "3": {"class_type": "Stateful", "inputs": {"x": ["2", 0]}},
        "4": {"class_type": "Output", "inputs": {"value": ["3", 0]}},
    }


@pytest.mark.parametrize("mode", ["classic", "lru"])
def test_objects_cache_keeps_one_instance_per_node_id(mode):
    ex = Executor(make_registry(), cache=mode)
    for value in (1, 2, 3):
        r = ex.execute(stateful_chain(value))
        assert {"2", "3"} <= r.executed
        assert ui_value(r, "4") == value + 2
    assert LOG.inits["Stateful"] == 2  # __init__ once per node id
    for node_id in ("2", "3"):
        instances = LOG.instances[node_id]
        assert len(instances) == 3 and all(i is instances[0] for i in instances)
    assert LOG.instances["2"][0] is not LOG.instances["3"][0]


@pytest.mark.parametrize("mode", ["classic", "lru"])
def test_objects_cache_makes_a_new_instance_when_the_class_is_redefined(mode):
    reg = make_registry()
    ex = Executor(reg, cache=mode)
    ex.execute(stateful_chain())
    old = LOG.instances["2"][0]

    class Stateful:  # redefined, as when a notebook cell is re-run with an edit
        def __init__(self):
            LOG.inits["Stateful2"] += 1

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"x": ("INT",)}, "hidden": {"unique_id": "UNIQUE_ID"}}

        RETURN_TYPES = ("INT",)
        FUNCTION = "run"

        def run(self, x, unique_id):
            LOG.instances.setdefault(str(unique_id), []).append(self)
            return (x + 100,)

    reg.register(Stateful, name="Stateful")
    r = ex.execute(stateful_chain())
    assert r.status == "success"
    assert {"2", "3", "4"} <= r.executed
    assert "1" not in r.executed
    assert ui_value(r, "4") == 201
    new = LOG.instances["2"][-1]
    assert new is not old and type(new) is Stateful
    assert LOG.inits["Stateful2"] == 2


# --- failures ----------------------------------------------------------------


def failing_chain(fail):
    return {
        "1": {"class_type": "Int", "inputs": {"value": 3}},
        "2": {"class_type": "FailIf", "inputs": {"x": ["1", 0], "fail": fail}},
        "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
    }


def test_a_node_that_raises_stores_nothing(ex, cache_mode):
    r = ex.execute(failing_chain(True))
    assert r.status == "error"
    assert "1" in r.executed
    assert ex.get_output("2") is None
    if cache_mode != "none":
        assert ex.get_output("1") == (3,)

    r = ex.execute(failing_chain(True))  # the failure is not cached either
    assert r.status == "error"
    assert r.error["node_id"] == "2"
    assert LOG.calls["FailIf"] == 2
    assert "2" not in r.cached

    r = ex.execute(failing_chain(False))
    assert r.status == "success"
    assert ui_value(r, "3") == 3
    if cache_mode == "none":
        assert r.executed == {"1", "2", "3"}
    else:
        assert r.executed == {"2", "3"}
        assert "1" in r.cached


# --- strategies: LRU and RAM pressure ----------------------------------------


def small(value):
    return {
        "1": {"class_type": "Int", "inputs": {"value": value}},
        "2": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": 1}},
        "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
    }


def test_lru_keeps_earlier_prompts_within_its_size():
    ex = Executor(make_registry(), cache="lru", lru_size=100)
    for value in (1, 2, 3):
        ex.execute(small(value))
    assert ex.execute(small(1)).executed == set()


def test_lru_of_size_two_evicts():
    ex = Executor(make_registry(), cache="lru", lru_size=2)
    for value in (1, 2, 3):
        assert ex.execute(small(value)).status == "success"
    r = ex.execute(small(1))
    assert r.status == "success"
    assert ui_value(r, "3") == 2
    assert {"1", "2"} <= r.executed


def test_lru_smaller_than_the_prompt_still_runs_it_correctly():
    ex = Executor(make_registry(), cache="lru", lru_size=2)
    for _ in range(2):
        r = ex.execute(two_branches())
        assert r.status == "success"
        assert (ui_value(r, "5"), ui_value(r, "6")) == (3, 11)


def test_classic_forgets_nodes_not_in_the_last_prompt():
    ex = Executor(make_registry(), cache="classic")
    ex.execute(small(1))
    ex.execute(small(2))
    assert {"1", "2", "3"} <= ex.execute(small(1)).executed


def huge_headroom() -> int:
    return psutil.virtual_memory().total * 2


def test_ram_strategy_evicts_everything_under_pressure():
    ex = Executor(make_registry(), cache="ram", ram_headroom=huge_headroom())
    for _ in range(2):
        r = ex.execute(two_branches())
        assert r.status == "success"
        assert (ui_value(r, "5"), ui_value(r, "6")) == (3, 11)
        assert r.executed == ALL  # nothing survived the previous run
    assert ex.get_output("1") is None


def test_ram_strategy_huge_headroom_never_breaks_a_run():
    """Every node's inputs must survive eviction until it has run."""
    prompt = {"0": {"class_type": "Int", "inputs": {"value": 0}}}
    for i in range(1, 30):
        prompt[str(i)] = {
            "class_type": "Add",
            "inputs": {"a": [str(i - 1), 0], "b": ["0", 0] if i % 3 else 1},
        }
    prompt["out"] = {"class_type": "Output", "inputs": {"value": ["29", 0]}}
    ex = Executor(make_registry(), cache="ram", ram_headroom=huge_headroom())
    r = ex.execute(prompt)
    assert r.status == "success"
    assert ui_value(r, "out") == sum(1 for i in range(1, 30) if i % 3 == 0)


def test_ram_strategy_without_pressure_keeps_the_cache():
    ex = Executor(make_registry(), cache="ram", ram_headroom=0)
    ex.execute(two_branches())
    assert ex.execute(two_branches()).executed == set()
    assert ex.execute(two_branches(b=5)).executed == {"2", "3", "5"}


# --- constants by content ---------------------------------------------------


def tensor_prompt(tensor):
    return {
        "1": {"class_type": "TensorSum", "inputs": {"tensor": tensor}},
        "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
    }


def test_tensor_constant_recreated_equal_keeps_the_cache(ex, cache_mode):
    ex.execute(tensor_prompt(torch.ones(2, 3)))
    r = ex.execute(tensor_prompt(torch.ones(2, 3)))  # a new object, same content
    assert r.status == "success"
    assert ui_value(r, "2") == 6.0
    assert r.executed == ({"1", "2"} if cache_mode == "none" else set())


@pytest.mark.parametrize(
    "changed",
    [torch.ones(2, 3) * 2, torch.ones(3, 2), torch.ones(2, 3, dtype=torch.float64)],
    ids=["values", "shape", "dtype"],
)
def test_tensor_constant_changed_reruns(ex, changed):
    ex.execute(tensor_prompt(torch.ones(2, 3)))
    r = ex.execute(tensor_prompt(changed))
    assert r.executed == {"1", "2"}
    assert math.isclose(ui_value(r, "2"), float(changed.sum()))


def test_tensor_constant_mutated_in_place_reruns(ex):
    t = torch.ones(2, 3)
    ex.execute(tensor_prompt(t))
    t[0, 0] = 5.0
    r = ex.execute(tensor_prompt(t))
    assert r.executed == {"1", "2"}
    assert ui_value(r, "2") == 10.0
