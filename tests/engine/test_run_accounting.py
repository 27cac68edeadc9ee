"""One truth per run: what counts as executed, cached or reused, and the last event.

Each case is the graph of the ComfyUI execution test it came from (ENGINE_CASES.md),
run under every cache mode:

- a node that raised counts as run (``test_error``, case 4);
- so does an async node still in flight when a sibling raised
  (``test_sync_error_during_async_execution``, case 54);
- ``cached`` means "served from an entry that existed when the run started": an
  identical node computed earlier in the same run is ``reused``, in neither set
  (``test_output_reuse``, case 19, with the image node doubled);
- under ``none`` too, identical nodes are computed once;
- every run, whatever its outcome, ends with an ``executing`` event for node None.
"""

from __future__ import annotations

import threading

import pytest

from engine import Executor

from . import stubs
from .stubs import image, lazy_mix, link, mask, node, preview, record_events, save, sleep


@pytest.fixture
def ex(cache_mode) -> Executor:
    return Executor(stubs.make_registry(), cache=cache_mode)


def sequence(events) -> list[tuple]:
    return [(e.type, e.data.get("node")) for e in events if e.type not in ("progress", "status")]


def test_a_node_that_raised_counts_as_run(ex):
    events = record_events(ex)
    prompt = {
        "black": image("BLACK", size=64),
        "noise": image("NOISE", size=32),  # a different size: the mix raises
        "mask": mask(0.5, size=64),
        "mix": lazy_mix("black", "noise", "mask"),
        "save": save("mix"),
    }
    r = ex.execute(prompt)
    assert r.status == "error" and r.error["node_id"] == "mix"
    assert r.executed == {"black", "noise", "mask", "mix"} and r.cached == set()
    assert "mix" in r.timings
    (error,) = [e.data for e in events if e.type == "execution_error"]
    assert sorted(error["executed"]) == sorted(r.executed)
    assert sequence(events)[-2:] == [("execution_error", None), ("executing", None)]


def test_an_async_sibling_in_flight_when_a_node_raised_counts_as_run(ex):
    events = record_events(ex)
    prompt = {
        "image": image("BLACK"),
        "sleep": sleep("image", 0.5),  # still in flight when the sync node raises
        "err": node("TestSyncError", value=link("image")),
        "out1": preview("sleep"),
        "out2": preview("err"),
    }
    r = ex.execute(prompt)
    assert r.status == "error" and r.error["node_id"] == "err"
    assert r.executed == {"image", "sleep", "err"}
    assert sequence(events)[-1] == ("executing", None)


def test_an_identical_node_is_computed_once_and_listed_as_reused(ex, cache_mode):
    events = record_events(ex)
    prompt = {
        "black1": image("BLACK"),
        "black2": image("BLACK"),  # the same node: the same signature
        "out1": save("black1"),
        "out2": save("black2"),
    }
    r = ex.execute(prompt, prompt_id="first")
    assert r.status == "success"
    assert len(r.executed & {"black1", "black2"}) == 1  # under "none" too, as ComfyUI
    assert len(r.reused & {"black1", "black2"}) == 1
    assert r.cached == set()  # nothing existed when the run started
    first = [e for e in events if e.prompt_id == "first"]
    assert [e.data["nodes"] for e in first if e.type == "execution_cached"] == [[]]
    ran = [n for t, n in sequence(first) if t == "executing" and n is not None]
    assert sorted(ran) == sorted(r.executed)  # the reused twin never "executes"
    assert sequence(first)[-2:] == [("execution_success", None), ("executing", None)]

    again = ex.execute(prompt, prompt_id="second")
    if cache_mode == "none":
        assert len(again.executed & {"black1", "black2"}) == 1
        assert len(again.reused & {"black1", "black2"}) == 1
    else:
        assert again.executed == set() and again.reused == set()
        assert again.cached == set(prompt)  # both entries existed when it started
    second = [e for e in events if e.prompt_id == "second"]
    assert sequence(second)[-1] == ("executing", None)


def test_an_interrupted_run_ends_with_executing_none(ex):
    events = record_events(ex)
    prompt = {"image": image("BLACK"), "sleep": sleep("image", 5.0), "out": preview("sleep")}
    timer = threading.Timer(0.3, ex.interrupt)
    timer.start()
    try:
        r = ex.execute(prompt)
    finally:
        timer.cancel()
    assert r.status == "interrupted"
    assert "sleep" not in r.executed  # stopped before it could run to its end
    assert sequence(events)[-2:] == [("execution_interrupted", None), ("executing", None)]
