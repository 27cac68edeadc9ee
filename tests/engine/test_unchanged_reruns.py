"""Reruns of an unchanged prompt reuse what the last runs computed: still exact."""

import pytest

from engine import Executor, NodeRegistry, node

CALLS: list[str] = []


@node
def number(value: int = 1) -> int:
    CALLS.append("number")
    return value


@node
def twice(x: int) -> int:
    CALLS.append("twice")
    return 2 * x


@node(output=True)
def show(x: int) -> None:
    CALLS.append("show")


class Dice:
    """Runs every time: IS_CHANGED is NaN."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("INT",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "roll"

    @classmethod
    def IS_CHANGED(cls, **_):
        return float("nan")

    def roll(self, x):
        CALLS.append("dice")
        return (x,)


@pytest.fixture
def registry():
    reg = NodeRegistry()
    for fn in (number, twice, show):
        reg.register(fn)
    reg.register(Dice, name="Dice")
    CALLS.clear()
    return reg


def prompt(value: int) -> dict:
    return {
        "n": {"class_type": "number", "inputs": {"value": value}},
        "t": {"class_type": "twice", "inputs": {"x": ["n", 0]}},
        "s": {"class_type": "show", "inputs": {"x": ["t", 0]}},
        "unused": {"class_type": "number", "inputs": {"value": 99}},  # reached by no output
    }


@pytest.mark.parametrize("cache", ["classic", "lru"])
def test_repeated_unchanged_runs_stay_cached_and_changes_still_rerun(registry, cache):
    ex = Executor(registry, cache=cache)
    for _ in range(4):  # the third and later runs take the last run's signatures whole
        ex.execute(prompt(3))
    assert CALLS == ["number", "twice", "show"]
    assert ex.get_output("t") == (6,)

    CALLS.clear()
    r = ex.execute(prompt(5))
    assert r.executed == {"n", "t", "s"} and ex.get_output("t") == (10,)
    for _ in range(3):
        r = ex.execute(prompt(5))
    assert r.executed == set() and CALLS == ["number", "twice", "show"]

    CALLS.clear()
    back = prompt(3)
    back["t2"] = {"class_type": "twice", "inputs": {"x": ["t", 0]}}
    back["s2"] = {"class_type": "show", "inputs": {"x": ["t2", 0]}}
    for _ in range(3):
        r = ex.execute(back)
    assert ex.get_output("t2") == (12,)


def test_an_always_changing_node_reruns_however_often_the_prompt_repeats(registry):
    ex = Executor(registry)
    p = prompt(2)
    p["d"] = {"class_type": "Dice", "inputs": {"x": ["n", 0]}}
    p["s"]["inputs"]["x"] = ["d", 0]
    for _ in range(4):
        r = ex.execute(p)
        assert {"d", "s"} <= r.executed
    assert CALLS.count("dice") == 4 and CALLS.count("number") == 1
