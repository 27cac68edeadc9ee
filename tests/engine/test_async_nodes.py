"""ComfyUI's async-node tests, case by case (ENGINE_CASES.md, cases 44-58 and 60).

``async def`` node functions, validators and lazy checks; async nodes that are
ready at the same time run concurrently, so the timing limits below are
behaviour (they fail if the sleeps run one after another). Case 59 is a
placeholder upstream; ``test_interrupt_during_async_sleep`` stands in for it.
"""

from __future__ import annotations

import threading

import pytest

from engine import Executor

from . import stubs
from .stubs import (
    assert_ok,
    average,
    events_of,
    image,
    images_of,
    lazy_mix,
    link,
    make_list,
    mask,
    node,
    pixel_value,
    preview,
    record_events,
    save,
    sleep,
    timed,
    warm_up,
)


@pytest.fixture
def ex(cache_mode) -> Executor:
    return Executor(stubs.make_registry(), cache=cache_mode)


# --- Happy paths -------------------------------------------------------------------------


def test_basic_async_execution(ex):
    r = ex.execute({"image": image("BLACK"), "sleep": sleep("image", 0.1), "out": save("sleep")})
    assert_ok(r)
    assert {"sleep", "out"} <= r.executed
    assert len(images_of(r, "out")) == 1
    assert pixel_value(r, "out") == 0


def test_multiple_async_parallel_execution(ex):
    warm_up(ex)
    r, elapsed = timed(
        ex,
        {
            "image": image("BLACK"),
            "sleep1": sleep("image", 0.3),
            "sleep2": sleep("image", 0.4),
            "sleep3": sleep("image", 0.5),
            "out1": preview("sleep1"),
            "out2": preview("sleep2"),
            "out3": preview("sleep3"),
        },
    )
    assert_ok(r)
    assert elapsed < 0.8, f"0.3 + 0.4 + 0.5 s of sleeps took {elapsed:.2f} s: not concurrent"
    assert {"sleep1", "sleep2", "sleep3"} <= r.executed


def test_async_with_dependencies(ex):
    r = ex.execute(
        {
            "image1": image("BLACK"),
            "image2": image("WHITE"),
            "sleep1": sleep("image1", 0.2),
            "sleep2": sleep("image2", 0.2),
            "avg": average("sleep1", "sleep2"),
            "out": save("avg"),
        }
    )
    assert_ok(r)
    assert {"sleep1", "sleep2", "avg", "out"} <= r.executed
    assert abs(images_of(r, "out")[0]["mean"] - 127.5) < 1


def test_async_validate_inputs(ex):
    prompt = {
        "v": node("TestAsyncValidation", value=5.0, threshold=10.0),
        "out": save("v"),
    }
    r = ex.execute(prompt)
    assert_ok(r)
    assert "v" in r.executed

    prompt["v"]["inputs"]["threshold"] = 3.0  # the async validator now rejects 5 > 3
    r = ex.execute(prompt)
    assert r.status == "invalid"
    assert "v" in r.node_errors
    assert r.executed == set()


def test_async_lazy_evaluation(ex):
    warm_up(ex)
    r, elapsed = timed(
        ex,
        {
            "input1": image("BLACK"),
            "input2": image("WHITE"),
            "mask": mask(0.0),
            "sleep1": sleep("input1", 0.3),
            "sleep2": sleep("input2", 0.3),
            "mix": lazy_mix("sleep1", "sleep2", "mask"),
            "out": save("mix"),
        },
    )
    assert_ok(r)
    assert elapsed < 0.5, f"took {elapsed:.2f} s: the unneeded sleep2 was waited for"
    assert "sleep1" in r.executed
    assert "sleep2" not in r.executed


def test_async_check_lazy_status(ex):
    r = ex.execute(
        {
            "lazy": node("TestAsyncLazyCheck", input1="value1", input2="value2", condition=True),
            "out": save("lazy"),
        }
    )
    assert_ok(r)
    assert "lazy" in r.executed


# --- Errors ------------------------------------------------------------------------------


def test_async_execution_error(ex):
    events = record_events(ex)
    r = ex.execute(
        {
            "image": image("BLACK"),
            "err": node("TestAsyncError", value=link("image"), error_after=0.1),
            "out": save("err"),
        }
    )
    assert r.status == "error"
    assert r.error["node_id"] == "err"
    errors = events_of(events, "execution_error")
    assert errors and errors[0]["prompt_id"] == r.prompt_id
    assert errors[0]["node_id"] == "err"


def test_async_validation_error(ex):
    r = ex.execute(
        {
            "v": node("TestAsyncValidationError", value=15.0, max_value=10.0),
            "out": save("v"),
        }
    )
    assert r.status == "invalid"
    assert "v" in r.node_errors
    assert r.executed == set()


def test_async_timeout_handling(ex):
    r = ex.execute(
        {
            "image": image("BLACK"),
            "slow": node("TestAsyncTimeout", value=link("image"), timeout=0.5, operation_time=2.0),
            "out": save("slow"),
        }
    )
    assert r.status == "error"
    assert r.error["node_id"] == "slow"
    assert "timed out" in r.error["exception_message"], r.error["exception_message"]


def test_concurrent_async_error_recovery(ex):
    r = ex.execute(
        {
            "image": image("BLACK"),
            "err": node("TestAsyncError", value=link("image"), error_after=0.1),
            "out": save("err"),
        }
    )
    assert r.status == "error"

    r = ex.execute({"image2": image("WHITE"), "sleep": sleep("image2", 0.1), "out2": save("sleep")})
    assert_ok(r)
    assert "sleep" in r.executed
    assert pixel_value(r, "out2") == 255


def test_sync_error_during_async_execution(ex):
    events = record_events(ex)
    r = ex.execute(
        {
            "image": image("BLACK"),
            "sleep": sleep("image", 0.5),  # still in flight when the sync node raises
            "err": node("TestSyncError", value=link("image")),
            "out1": preview("sleep"),
            "out2": preview("err"),
        }
    )
    assert r.status == "error"
    assert r.error["node_id"] == "err"
    errors = events_of(events, "execution_error")
    assert errors and errors[0]["prompt_id"] == r.prompt_id


# --- Edge cases --------------------------------------------------------------------------


def test_async_with_execution_blocker(ex):
    r = ex.execute(
        {
            "image1": image("BLACK"),
            "image2": image("WHITE"),
            "sleep1": sleep("image1", 0.2),
            "sleep2": sleep("image2", 0.2),
            "images": make_list(link("sleep1"), link("sleep2")),
            "int1": node("StubInt", value=1),
            "int2": node("StubInt", value=2),
            "ints": make_list(link("int1"), link("int2")),
            "compare": node("TestIntConditions", a=link("ints"), b=2, operation="=="),
            "blocker": node(
                "TestExecutionBlocker", input=link("images"), block=link("compare"), verbose=False
            ),
            "out": preview("blocker"),
        }
    )
    assert_ok(r)
    assert len(images_of(r, "out")) == 1  # the second (white) image is blocked
    assert pixel_value(r, "out") == 0


def test_async_caching_behavior(ex, cache_mode):
    warm_up(ex)
    prompt = {"image": image("BLACK"), "sleep": sleep("image", 0.2), "out": save("sleep")}
    r = ex.execute(prompt)
    assert_ok(r)
    assert "sleep" in r.executed

    r, elapsed = timed(ex, prompt)
    assert_ok(r)
    if cache_mode == "none":
        assert "sleep" in r.executed
    else:
        assert "sleep" not in r.executed
        assert "sleep" in r.cached
        assert elapsed < 0.1, f"a fully cached run took {elapsed:.3f} s"


def test_async_with_dynamic_prompts(ex):
    warm_up(ex)
    prompt = {
        "image1": image("BLACK"),
        "image2": image("WHITE"),
        "dynamic": node(
            "TestDynamicAsyncGeneration",
            image1=link("image1"),
            image2=link("image2"),
            num_async_nodes=5,
            sleep_duration=0.4,
        ),
        "out": save("dynamic"),
    }
    r, elapsed = timed(ex, prompt)
    assert_ok(r)
    assert elapsed < 1.0, f"5 x 0.4 s expanded sleeps took {elapsed:.2f} s: not concurrent"
    assert "dynamic" in r.executed
    assert len(r.executed - set(prompt)) == 6  # the expansion: 5 sleeps and their average
    assert abs(images_of(r, "out")[0]["mean"] - 255 * 2 / 5) <= 1  # B, W, B, W, B


def test_async_resource_cleanup(ex, cache_mode):
    prompt: dict = {"image": image("BLACK")}
    users = [f"user{i}" for i in range(5)]
    for i, user in enumerate(users):
        prompt[user] = node(
            "TestAsyncResourceUser", value=link("image"), resource_id=f"resource_{i}", duration=0.1
        )
        prompt[f"out{i}"] = preview(user)

    r = ex.execute(prompt)
    assert_ok(r)
    assert set(users) <= r.executed
    assert not any(stubs.TestAsyncResourceUser.active.values())

    r = ex.execute(prompt)
    assert_ok(r)  # no "already in use" error: every resource was released
    if cache_mode == "none":
        assert set(users) <= r.executed
    else:
        assert not set(users) & r.executed
        assert set(users) <= r.cached


def test_interrupt_during_async_sleep(ex):
    """Case 59 (a placeholder upstream): interrupting in-flight async nodes."""
    events = record_events(ex)
    warm_up(ex)
    prompt = {
        "image": image("BLACK"),
        "sleep1": sleep("image", 5.0),
        "sleep2": sleep("image", 5.0),
        "out1": preview("sleep1"),
        "out2": preview("sleep2"),
    }
    timer = threading.Timer(0.3, ex.interrupt)
    timer.start()
    try:
        r, elapsed = timed(ex, prompt)
    finally:
        timer.cancel()
    assert r.status == "interrupted"
    assert elapsed < 1.5, f"interrupt took effect after {elapsed:.2f} s: sleeps were awaited"
    assert not {"sleep1", "sleep2", "out1", "out2"} & r.executed
    assert "image" in r.executed
    assert events_of(events, "execution_interrupted")
    assert ex.get_output("sleep1") is None  # an interrupted node leaves no cache entry

    # The next run works.
    prompt["sleep1"] = sleep("image", 0.05)
    prompt["sleep2"] = sleep("image", 0.06)  # distinct, or out2 would share out1's cache key
    r = ex.execute(prompt)
    assert_ok(r)
    assert {"sleep1", "sleep2", "out1", "out2"} <= r.executed
    assert len(images_of(r, "out1")) == 1


def test_mixed_sync_async_execution(ex):
    r = ex.execute(
        {
            "image1": image("BLACK"),
            "image2": image("WHITE"),
            "mask": mask(0.5),
            "sync1": lazy_mix("image1", "image2", "mask"),
            "async1": sleep("sync1", 0.2),
            "sync2": node("TestCustomValidation1", input1=link("async1"), input2=0.5),
            "async2": sleep("sync2", 0.2),
            "out": save("async2"),
        }
    )
    assert_ok(r)
    assert {"sync1", "async1", "sync2", "async2", "out"} <= r.executed
    assert abs(images_of(r, "out")[0]["mean"] - 63.75) < 5  # 0.5 grey, halved
