"""Auto-queue modes (seed 001's Run button): ``instant`` and ``change``."""

from __future__ import annotations

import itertools

import pytest

from engine import node

from .queue_nodes import RAN, TIMEOUT, Gate, gated, hold, marked, started, wait_until

pytestmark = pytest.mark.usefixtures("reset_queue_nodes")


class Dice:
    """A node that runs every time (IS_CHANGED is NaN): an instant loop never settles."""

    RETURN_TYPES = ("INT",)
    FUNCTION = "roll"
    OUTPUT_NODE = True
    rolls = 0

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"sides": ("INT", {"default": 6})}}

    @classmethod
    def IS_CHANGED(cls, **_):
        return float("nan")

    def roll(self, sides):
        Dice.rolls += 1
        return {"ui": {"roll": [Dice.rolls]}, "result": (Dice.rolls % sides,)}


@node(output=True)
def broken(x: int) -> int:
    raise RuntimeError("always fails")


@pytest.fixture(autouse=True)
def _more_nodes(registry):
    registry.register(Dice, name="Dice")
    registry.register(broken)
    Dice.rolls = 0


DICE = {"d": {"class_type": "Dice", "inputs": {"sides": 6}}}


def test_modes_are_checked(q):
    assert q.auto_mode == "disabled"
    with pytest.raises(ValueError, match="one of disabled, instant, change"):
        q.auto_queue("sometimes", marked("a"))
    with pytest.raises(ValueError, match="needs a graph"):
        q.auto_queue("instant")


# --- instant --------------------------------------------------------------------------


def test_instant_stops_by_itself_when_a_run_executes_nothing(q):
    first = q.auto_queue("instant", marked("a"))
    assert first is not None and first.auto
    assert q.join(TIMEOUT)

    runs = q.history()
    assert [r["executed"] for r in runs] == [["m", "v"], []]  # the rerun was all cached
    assert q.auto_mode == "disabled"
    assert RAN == ["a"]


def test_instant_keeps_going_while_a_node_always_runs_until_disabled(q):
    q.auto_queue("instant", DICE)
    wait_until(lambda: len(q.history()) >= 3)
    assert q.auto_mode == "instant"
    q.auto_queue("disabled")
    assert q.join(TIMEOUT)
    settled = len(q.history())
    assert all(r["executed"] == ["d"] for r in q.history())
    assert q.pending() == [] and len(q.history()) == settled


def test_instant_stops_with_clear(q):
    q.auto_queue("instant", DICE)
    wait_until(lambda: len(q.history()) >= 2)
    q.clear()
    assert q.auto_mode == "disabled"
    assert q.join(TIMEOUT)
    assert q.pending() == []


def test_instant_records_the_seed_each_run_used(q):
    """A callable graph applies the seed policy (increment, here up to 3) before each run."""
    seeds = itertools.chain(range(4), itertools.repeat(3))
    q.auto_queue("instant", lambda: marked("seeded", next(seeds)))
    assert q.join(TIMEOUT)

    runs = q.history()
    assert [r["prompt"]["v"]["inputs"]["v"] for r in runs] == [0, 1, 2, 3, 3]
    assert [r["outputs"]["m"]["x"] for r in runs] == [[0], [1], [2], [3], [3]]
    assert runs[-1]["executed"] == []  # seed 3 again: nothing to do, the loop stopped
    assert q.auto_mode == "disabled"


def test_instant_stops_when_a_run_fails(q):
    prompt = {"v": {"class_type": "value", "inputs": {"v": 0}}}
    prompt["b"] = {"class_type": "broken", "inputs": {"x": ["v", 0]}}
    q.auto_queue("instant", prompt)
    assert q.join(TIMEOUT)
    assert [r["status"] for r in q.history()] == ["error"]
    assert q.auto_mode == "disabled"


def test_instant_stops_when_its_run_is_interrupted(q):
    g = Gate()
    first = q.auto_queue("instant", gated(g))
    assert started(g, first)
    assert q.interrupt()
    assert q.join(TIMEOUT)
    assert [r["status"] for r in q.history()] == ["interrupted"]
    assert q.auto_mode == "disabled"


def test_instant_waits_for_the_queue_to_empty(q):
    g, _ = hold(q)
    q.submit(marked("user"))
    assert q.auto_queue("instant", marked("auto", 1)) is None  # busy: queued when it empties
    assert q.auto_mode == "instant"
    g.open()
    assert q.join(TIMEOUT)
    assert RAN == ["user", "auto"]
    tags = [r["prompt"].get("m", {}).get("inputs", {}).get("tag") for r in q.history()]
    assert tags == [None, "user", "auto", "auto"]  # the gate, the user's run, the loop


# --- change ---------------------------------------------------------------------------


def test_change_queues_one_run_per_burst_of_changes(q):
    assert q.auto_queue("change", marked("a"), debounce=0.3) is None  # stand-by: no run yet
    assert q.join(TIMEOUT) and q.history() == []

    for x in range(5):  # a slider dragged: five changes within the debounce
        assert q.changed(marked("drag", x))
    assert q.join(TIMEOUT)
    runs = q.history()
    assert len(runs) == 1
    assert runs[0]["prompt"]["v"]["inputs"]["v"] == 4  # the latest graph

    q.changed(marked("edit", 9))
    assert q.join(TIMEOUT)
    assert [r["prompt"]["v"]["inputs"]["v"] for r in q.history()] == [4, 9]


def test_change_with_a_callable_graph_reads_it_when_the_run_is_queued(q):
    state = {"x": 0}
    q.auto_queue("change", lambda: marked("live", state["x"]), debounce=0.05)
    state["x"] = 5
    q.changed()
    assert q.join(TIMEOUT)
    assert [r["outputs"]["m"]["x"] for r in q.history()] == [[5]]


def test_a_change_known_to_be_complete_queues_its_run_at_once(q):
    g, running = hold(q)  # the worker is busy: the run stays pending where we can see it
    q.auto_queue("change", marked("a"), debounce=60)  # a debounce no test would wait for
    assert q.changed(marked("edit", 7), debounce=0)
    assert not q.auto.debouncing
    assert [job.prompt["v"]["inputs"]["v"] for job in q.pending()] == [7]
    with pytest.raises(ValueError, match="debounce must be >= 0"):
        q.changed(debounce=-1)
    g.open()
    assert q.join(TIMEOUT)
    assert running.status == "success"


def test_change_stops_with_clear_and_when_disabled(q):
    q.auto_queue("change", marked("a"), debounce=0.2)
    q.changed()
    q.clear()  # before the debounce ends: the run is never queued
    assert q.auto_mode == "disabled"
    assert q.join(TIMEOUT)
    assert q.history() == []

    q.auto_queue("change", marked("b"), debounce=0.2)
    q.changed()
    q.auto_queue("disabled")
    assert q.changed() is False
    assert q.join(TIMEOUT)
    assert q.history() == []


def test_changes_are_ignored_unless_in_change_mode(q):
    assert q.changed(marked("a")) is False
    assert q.join(TIMEOUT)
    assert q.history() == []


def test_auto_queued_jobs_are_marked(q):
    (user,) = q.submit(marked("u"))
    user.result(TIMEOUT)
    auto = q.auto_queue("instant", marked("a", 3))
    assert q.join(TIMEOUT)
    assert not user.auto and auto.auto


def test_ui_of_auto_runs_reaches_subscribers(q):
    outputs = []
    q.subscribe(lambda e: outputs.append(e.data["output"]) if e.type == "executed" else None)
    q.auto_queue("instant", marked("a", 2))
    assert q.join(TIMEOUT)
    assert outputs == [{"tag": ["a"], "x": [2]}, {"tag": ["a"], "x": [2]}]


def test_changes_during_a_slow_run_leave_one_run_of_the_latest_graph(q):
    g, running = hold(q)  # a slow run occupies the worker
    q.auto_queue("change", marked("a"), debounce=0.05)
    for x in (1, 2, 3):  # three edits, each after the debounce: three change-runs queued
        q.changed(marked("edit", x))
        wait_until(lambda: len(q.pending()) == 1 and not q.auto.debouncing)
    assert len(q.pending()) == 1  # each replaced the one before it
    g.open()
    assert q.join(TIMEOUT)
    assert [r["prompt"]["v"]["inputs"]["v"] for r in q.history()[1:]] == [3]
    assert running.status == "success"
