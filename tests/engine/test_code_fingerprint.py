"""The code part of a cache key: redefinitions, and the globals a node's code reads."""

from engine import Executor, NodeRegistry, node
from engine.explain import explain


def cell(source: str, namespace: dict) -> dict:
    """Run ``source`` as a notebook cell would, in ``namespace``."""
    exec(source, namespace)
    return namespace


def test_globals_read_by_a_node_rerun_it_when_they_change(cache_mode):
    ns = cell(
        "FACTOR = 2\n"
        "LOG = []\n"
        "def helper(x):\n    return x * FACTOR\n"
        "@node\n"
        "def scale(x: int = 10) -> int:\n    LOG.append(x)\n    return helper(x)\n"
        "@node\n"
        "def other(x: int = 1) -> int:\n    return x\n",
        {"node": node, "__name__": "cell"},
    )
    reg = NodeRegistry()
    reg.register(ns["scale"])
    reg.register(ns["other"])
    ex = Executor(reg, cache=cache_mode)
    prompt = {
        "a": {"class_type": "scale", "inputs": {"x": 10}},
        "b": {"class_type": "other", "inputs": {"x": 1}},
    }
    first = ex.execute(prompt, outputs=["a", "b"])
    assert first.executed == {"a", "b"} and ex.get_output("a") in ((20,), None)

    again = ex.execute(prompt, outputs=["a", "b"])  # LOG (mutable) grew: that does not count
    if cache_mode != "none":
        assert again.executed == set()

    cell("FACTOR = 3\n", ns)  # another cell changes a constant the node reads
    changed = ex.execute(prompt, outputs=["a", "b"])
    expected = {"a", "b"} if cache_mode == "none" else {"a"}
    assert changed.executed == expected
    assert changed.outputs == {} and ns["LOG"][-1] == 10
    if cache_mode != "none":
        assert ex.get_output("a") == (30,)
        assert explain("a", changed.trace, again.trace) == (
            "a ran because a global its code reads changed (FACTOR)."
        )

    cell("def helper(x):\n    return x * FACTOR + 1\n", ns)  # a helper redefined
    redefined = ex.execute(prompt, outputs=["a", "b"])
    assert redefined.executed == expected
    if cache_mode != "none":
        assert ex.get_output("a") == (31,)
        assert "(helper)" in explain("a", redefined.trace, changed.trace)
