"""Runtime errors, the event stream, and interrupting a run."""

import re
import threading
import time

from .cache_nodes import LOG, TestError, ui_value


class Recorder:
    def __init__(self, ex):
        self.events = []
        self.unsubscribe = ex.subscribe(self.events.append)

    def types(self):
        return [e.type for e in self.events if e.type != "progress"]

    def of(self, type):
        return [e for e in self.events if e.type == type]


def simple():
    return {
        "1": {"class_type": "Int", "inputs": {"value": 1}},
        "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
    }


def broken_image_prompt():
    return {
        "1": {"class_type": "SolidImage", "inputs": {"value": 0.123456, "size": 4}},
        "2": {"class_type": "BrokenImageOp", "inputs": {"image": ["1", 0], "strength": 0.5}},
        "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
    }


BUILTIN_VALUE_ERROR = {"ValueError", "builtins.ValueError"}


# --- execution_error ---------------------------------------------------------


def test_execution_error_shape(ex):
    events = Recorder(ex)
    r = ex.execute(broken_image_prompt(), prompt_id="p-err")
    assert r.status == "error"
    error = r.error
    assert error["node_id"] == "2"
    assert error["node_type"] == "BrokenImageOp"
    assert error["exception_type"] in BUILTIN_VALUE_ERROR
    assert "image op failed" in error["exception_message"]
    assert isinstance(error["traceback"], list) and error["traceback"]
    assert all(isinstance(line, str) for line in error["traceback"])
    assert "apply_effect" in "".join(error["traceback"])

    inputs = error["current_inputs"]
    assert set(inputs) >= {"image", "strength"}
    assert [str(v) for v in inputs["strength"]] == ["0.5"]
    (image,) = inputs["image"]
    assert isinstance(image, str)
    assert "float32" in image
    assert re.search(r"1\D{1,4}4\D{1,4}4\D{1,4}3", image), image
    assert "0.123" not in image and "0.1235" not in image, "a tensor is summarised, not printed"

    (event,) = events.of("execution_error")
    for key in (
        "node_id",
        "node_type",
        "exception_type",
        "exception_message",
        "traceback",
        "current_inputs",
    ):
        assert event.data[key] == error[key], key
    assert event.data["prompt_id"] == "p-err"
    assert "1" in event.data["executed"]
    assert not events.of("execution_success")


def test_own_exception_has_its_full_type_name(ex):
    prompt = {
        "1": {"class_type": "Int", "inputs": {"value": 1}},
        "2": {"class_type": "RaiseOwn", "inputs": {"x": ["1", 0]}},
        "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
    }
    r = ex.execute(prompt)
    assert r.status == "error"
    assert r.error["exception_type"] == f"{TestError.__module__}.{TestError.__qualname__}"
    assert r.error["exception_message"] == "custom failure"
    assert r.error["current_inputs"]["x"] in ([1], ["1"])


def oom_prompt():
    return {
        "1": {"class_type": "Int", "inputs": {"value": 3}},
        "2": {"class_type": "OutOfMemory", "inputs": {"x": ["1", 0]}},
        "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
    }


def test_memory_error_gives_a_tip_and_empties_the_caches(ex, cache_mode):
    assert ex.execute(simple()).status == "success"
    if cache_mode != "none":
        assert ex.get_output("1") == (1,)

    prompt = oom_prompt()
    prompt["4"] = {"class_type": "Add", "inputs": {"a": ["1", 0], "b": 0}}
    prompt["5"] = {"class_type": "Output", "inputs": {"value": ["4", 0]}}
    r = ex.execute(prompt)
    assert r.status == "error"
    assert r.error["node_id"] == "2"
    assert r.error["exception_type"] in {"MemoryError", "builtins.MemoryError"}
    message = r.error["exception_message"]
    assert "allocation failed" in message
    assert "tip" in message.lower(), message
    for node_id in ("1", "4"):
        assert ex.get_output(node_id) is None, node_id

    r = ex.execute(simple())
    assert r.status == "success"
    assert r.executed == {"1", "2"}  # nothing left in the cache


def test_executor_runs_the_next_prompt_after_errors(ex, cache_mode):
    assert ex.execute(broken_image_prompt()).status == "error"
    assert ex.execute(oom_prompt()).status == "error"
    assert ex.execute({"1": {"class_type": "Nope", "inputs": {}}}).status == "invalid"
    r = ex.execute(simple())
    assert r.status == "success"
    assert r.error is None
    assert ui_value(r, "2") == 1
    r = ex.execute(simple())
    assert r.status == "success"
    assert r.executed == ({"1", "2"} if cache_mode == "none" else set())


# --- events ------------------------------------------------------------------


def test_event_order_for_a_small_run(ex):
    events = Recorder(ex)
    before = time.time() * 1000
    r = ex.execute(simple(), prompt_id="p1")
    after = time.time() * 1000
    assert r.prompt_id == "p1"

    seen = [(e.type, e.data.get("node")) for e in events.events if e.type != "progress"]
    assert seen == [
        ("execution_start", None),
        ("execution_cached", None),
        ("executing", "1"),
        ("executing", "2"),
        ("executed", "2"),
        ("execution_success", None),
        ("executing", None),  # every run ends so (ComfyUI's server sends it after a prompt)
    ]
    assert list(events.of("execution_cached")[0].data["nodes"]) == []
    executed = events.of("executed")[0].data
    assert executed["output"] == {"value": [1]}
    assert executed["display_node"] == "2"
    assert events.of("executing")[0].data["display_node"] == "1"

    stamps = [e.data["timestamp"] for e in events.events]
    assert all(type(s) is int for s in stamps)
    assert all(before - 1000 <= s <= after + 1000 for s in stamps)
    assert stamps == sorted(stamps)
    assert all(e.data["prompt_id"] == "p1" for e in events.events)


def test_event_order_for_a_cached_run(ex, cache_mode):
    ex.execute(simple())
    events = Recorder(ex)
    r = ex.execute(simple())
    types = events.types()
    assert types[:2] == ["execution_start", "execution_cached"]
    assert types[-2:] == ["execution_success", "executing"]
    assert events.events[-1].data["node"] is None
    ran = [e.data["node"] for e in events.of("executing") if e.data["node"] is not None]
    if cache_mode == "none":
        assert ran == ["1", "2"]
    else:
        assert ran == []
        assert "2" in events.of("execution_cached")[0].data["nodes"]
    assert all(e.data["prompt_id"] == r.prompt_id for e in events.events)


def test_every_run_gets_its_own_prompt_id(ex):
    events = Recorder(ex)
    first = ex.execute(simple())
    second = ex.execute(simple())
    assert first.prompt_id and second.prompt_id and first.prompt_id != second.prompt_id
    assert {e.data["prompt_id"] for e in events.events} == {first.prompt_id, second.prompt_id}


def test_unsubscribe_stops_events(ex):
    events = Recorder(ex)
    ex.execute(simple())
    count = len(events.events)
    assert count > 0
    events.unsubscribe()
    ex.execute(simple())
    assert len(events.events) == count


def test_a_subscriber_that_raises_does_not_break_the_run(ex):
    def broken(event):
        raise RuntimeError("subscriber bug")

    ex.subscribe(broken)
    events = Recorder(ex)
    r = ex.execute(simple())
    assert r.status == "success"
    assert ui_value(r, "2") == 1
    assert events.types()[-2:] == ["execution_success", "executing"]


# --- interrupt ---------------------------------------------------------------


def slow_chain():
    return {
        "1": {"class_type": "Int", "inputs": {"value": 1}},
        "2": {"class_type": "Sleep", "inputs": {"x": ["1", 0], "seconds": 0.3}},
        "3": {"class_type": "Add", "inputs": {"a": ["2", 0], "b": 1}},
        "4": {"class_type": "Output", "inputs": {"value": ["3", 0]}},
    }


def interrupt_when_sleeping(ex):
    def interrupter():
        if LOG.sleep_started.wait(10):
            ex.interrupt()

    thread = threading.Thread(target=interrupter, daemon=True)
    thread.start()
    return thread


def test_interrupt_from_another_thread(ex, cache_mode):
    events = Recorder(ex)
    thread = interrupt_when_sleeping(ex)
    r = ex.execute(slow_chain(), prompt_id="p-int")
    thread.join(5)
    assert r.status == "interrupted"
    assert {"1", "2"} <= r.executed
    assert not r.executed & {"3", "4"}
    assert LOG.calls["Add"] == 0

    (event,) = events.of("execution_interrupted")
    assert event.data["prompt_id"] == "p-int"
    assert {"1", "2"} <= set(event.data["executed"])
    assert event.data["node_id"] in {"3", "4"}
    assert not events.of("execution_success")
    if cache_mode != "none":
        assert ex.get_output("2") == (1,)  # finished nodes stay cached
        assert ex.get_output("3") is None

    LOG.sleep_started.clear()
    r = ex.execute(slow_chain())
    assert r.status == "success"
    assert ui_value(r, "4") == 2
    if cache_mode == "none":
        assert r.executed == {"1", "2", "3", "4"}
    else:
        assert r.executed == {"3", "4"}  # only what was not finished
