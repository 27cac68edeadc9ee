"""ComfyUI's execution test suite, case by case (ENGINE_CASES.md, cases 1-29).

Each test builds a small prompt from the stub nodes in ``stubs.py`` and asserts
which nodes ran (``r.executed``), which came from the cache (``r.cached``) and
what the output nodes reported (``r.outputs``), under every cache strategy.
ComfyUI answers an invalid prompt with HTTP 400; here that is ``status ==
"invalid"`` (or, when only some outputs fail, ``node_errors`` for them).
"""

from __future__ import annotations

import pytest

from engine import Executor

from . import stubs
from .stubs import (
    assert_ok,
    average,
    constant_image,
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


def error_types(r, node_id: str) -> list[str]:
    return [e["type"] for e in r.node_errors.get(node_id, {}).get("errors", [])]


def assert_rejected(r, node_id: str) -> None:
    """ComfyUI's HTTP 400: the prompt is invalid and ``node_id`` carries the error."""
    assert r.status == "invalid", (r.status, r.error)
    assert r.error["type"] == "prompt_outputs_failed_validation"
    assert node_id in r.node_errors, r.node_errors
    assert r.executed == set()


# --- 1-4: lazy inputs, caching, runtime errors ---------------------------------------------


def test_lazy_input(ex):
    r = ex.execute(
        {
            "black": image("BLACK"),
            "white": image("WHITE"),
            "mask": mask(0.0),
            "mix": lazy_mix("black", "white", "mask"),
            "save": save("mix"),
        }
    )
    assert_ok(r)
    assert pixel_value(r, "save") == 0
    assert {"black", "mask", "mix", "save"} <= r.executed
    assert "white" not in r.executed | r.cached  # check_lazy_status never asked for it


def full_mix_prompt(mask_value: float = 0.5) -> dict:
    return {
        "black": image("BLACK"),
        "noise": image("NOISE"),
        "mask": mask(mask_value),
        "mix": lazy_mix("black", "noise", "mask"),
        "save": save("mix"),
    }


def test_full_cache(ex, cache_mode):
    prompt = full_mix_prompt()
    assert_ok(ex.execute(prompt))
    r = ex.execute(prompt)
    assert_ok(r)
    if cache_mode != "none":
        assert r.executed == set()
        assert {"mix", "save"} <= r.cached  # the mix's own inputs need not be looked at
    else:
        assert r.executed == set(prompt)
        assert r.cached == set()


def test_partial_cache(ex, cache_mode):
    assert_ok(ex.execute(full_mix_prompt(0.5)))
    r = ex.execute(full_mix_prompt(0.4))
    assert_ok(r)
    assert {"mask", "mix", "save"} <= r.executed
    if cache_mode != "none":
        assert not {"black", "noise"} & r.executed
        assert {"black", "noise"} <= r.cached
    else:
        assert {"black", "noise"} <= r.executed


def test_error(ex, cache_mode):
    events = record_events(ex)
    prompt = {
        "black": image("BLACK", size=64),
        "noise": image("NOISE", size=32),  # a different size: the mix raises
        "mask": mask(0.5, size=64),
        "mix": lazy_mix("black", "noise", "mask"),
        "save": save("mix"),
    }
    r = ex.execute(prompt)
    assert r.status == "error"
    assert r.error["node_id"] == "mix"
    assert "save" not in r.executed
    errors = events_of(events, "execution_error")
    assert len(errors) == 1
    assert errors[0]["prompt_id"] == r.prompt_id
    assert errors[0]["node_id"] == "mix"

    # The executor stays usable, and what finished before the error stayed cached.
    prompt["noise"] = image("NOISE", size=64)
    r = ex.execute(prompt)
    assert_ok(r)
    if cache_mode != "none":
        assert {"black", "mask"} <= r.cached


# --- 5-10: validation ----------------------------------------------------------------------


@pytest.mark.parametrize("value, expect_error", [(5, True), ("foo", True), (5.0, False)])
def test_validation_error_literal(ex, value, expect_error):
    r = ex.execute(
        {
            "v": node("TestCustomValidation1", input1=value, input2=3.0),
            "save": save("v"),
        }
    )
    if expect_error:
        assert_rejected(r, "v")
    else:
        assert_ok(r)
        assert "v" in r.executed


@pytest.mark.parametrize(
    "source",
    [node("StubInt", value=5), mask(5.0)],
    ids=["StubInt", "StubMask"],
)
def test_validation_error_edge1(ex, source):
    r = ex.execute(
        {
            "stub": source,
            "v": node("TestCustomValidation1", input1=link("stub"), input2=3.0),
            "save": save("v"),
        }
    )
    # INT / MASK do not overlap "IMAGE,FLOAT": the built-in link type check rejects it.
    assert_rejected(r, "v")
    assert "return_type_mismatch" in error_types(r, "v")


@pytest.mark.parametrize(
    "source, expect_error",
    [(node("StubInt", value=5), True), (node("StubFloat", value=5.0), False)],
    ids=["StubInt", "StubFloat"],
)
def test_validation_error_edge2(ex, source, expect_error):
    stubs.TestCustomValidation2.received_types.clear()
    r = ex.execute(
        {
            "stub": source,
            "v": node("TestCustomValidation2", input1=link("stub"), input2=3.0),
            "save": save("v"),
        }
    )
    # VALIDATE_INPUTS takes input_types: the engine skips its own link type check and
    # tells the node what it received; the node itself rejects INT.
    received = source["class_type"].removeprefix("Stub").upper()
    assert {"input1": received} in stubs.TestCustomValidation2.received_types
    if expect_error:
        assert_rejected(r, "v")
        assert "return_type_mismatch" not in error_types(r, "v")
    else:
        assert_ok(r)
        assert "v" in r.executed


@pytest.mark.parametrize(
    "source, expect_error",
    [(node("StubInt", value=5), True), (node("StubFloat", value=5.0), False)],
    ids=["StubInt", "StubFloat"],
)
def test_validation_error_edge3(ex, source, expect_error):
    r = ex.execute(
        {
            "stub": source,
            "v": node("TestCustomValidation3", input1=link("stub"), input2=3.0),
            "save": save("v"),
        }
    )
    if expect_error:
        assert_rejected(r, "v")
    else:
        assert_ok(r)
        assert "v" in r.executed


@pytest.mark.parametrize(
    "source, expect_error",
    [(node("StubInt", value=5), True), (node("StubFloat", value=5.0), False)],
    ids=["StubInt", "StubFloat"],
)
def test_validation_error_edge4(ex, source, expect_error):
    stubs.TestCustomValidation4.validate_calls.clear()
    r = ex.execute(
        {
            "stub": source,
            "v": node("TestCustomValidation4", input1=link("stub"), input2=3.0),
            "save": save("v"),
        }
    )
    if expect_error:
        assert_rejected(r, "v")
        assert "return_type_mismatch" in error_types(r, "v")
    else:
        assert_ok(r)
        assert "v" in r.executed
        # Links are not evaluated at validation time: the linked value arrives as None.
        assert stubs.TestCustomValidation4.validate_calls
        assert all(
            c == {"input1": None, "input2": 3.0} for c in stubs.TestCustomValidation4.validate_calls
        )


@pytest.mark.parametrize(
    "input1, input2, expect_error",
    [(0.0, 0.5, False), (0.0, 5.0, False), (0.0, 7.0, True)],
)
def test_validation_error_kwargs(ex, input1, input2, expect_error):
    r = ex.execute(
        {
            "v": node("TestCustomValidation5", input1=input1, input2=input2),
            "save": save("v"),
        }
    )
    # A **kwargs validator turns the built-in min/max check off (5.0 > max 1.0 passes).
    if expect_error:
        assert_rejected(r, "v")
        assert "custom_validation_failed" in error_types(r, "v")
    else:
        assert_ok(r)
        assert "v" in r.executed


# --- 11-13: cycles and missing nodes --------------------------------------------------------


def test_cycle_error(ex):
    # As ComfyUI's test is written: mix1 lacks its required image2 (no cycle is closed).
    r = ex.execute(
        {
            "black": image("BLACK"),
            "white": image("WHITE"),
            "mask": mask(0.5),
            "mix1": node("TestLazyMixImages", image1=link("black"), mask=link("mask")),
            "mix2": lazy_mix("mix1", "white", "mask"),
            "save": save("mix2"),
        }
    )
    assert_rejected(r, "mix1")
    assert "required_input_missing" in error_types(r, "mix1")

    # A real cycle at submission: dependency_cycle on each node of it.
    r = ex.execute(
        {
            "black": image("BLACK"),
            "mask": mask(0.5),
            "mix1": lazy_mix("black", "mix2", "mask"),
            "mix2": lazy_mix("mix1", "black", "mask"),
            "save": save("mix2"),
        }
    )
    assert r.status == "invalid"
    assert r.executed == set()
    assert "dependency_cycle" in error_types(r, "mix1")
    assert "dependency_cycle" in error_types(r, "mix2")


def test_dynamic_cycle_error(ex):
    events = record_events(ex)
    r = ex.execute(
        {
            "black": image("BLACK"),
            "white": image("WHITE"),
            "gen": node("TestDynamicDependencyCycle", input1=link("black"), input2=link("white")),
            "save": save("gen"),
        }
    )
    # The cycle only exists in the expanded subgraph: a runtime error, blamed on the generator.
    assert r.status == "error"
    assert r.error["node_id"] == "gen"
    assert "cycle" in r.error["exception_message"].lower(), r.error["exception_message"]
    errors = events_of(events, "execution_error")
    assert errors and errors[0]["prompt_id"] == r.prompt_id
    assert errors[0]["node_id"] == "gen"


def test_missing_node_error(ex):
    prompt = {
        "black": image("BLACK"),
        # NOISE, not WHITE: with WHITE, mix1 would have mix2's cache key (same content)
        # and be served from the cache even though it never ran.
        "removeme": image("NOISE"),
        "white": image("WHITE"),
        "mask": mask(0.5),
        "mix1": lazy_mix("black", "removeme", "mask"),
        "mix2": lazy_mix("black", "white", "mask"),
        "save1": save("mix1"),
        "save2": save("mix2"),
    }
    without = {k: v for k, v in prompt.items() if k != "removeme"}
    r = ex.execute(without)
    # Only the output that depends on the dangling link fails; the other one runs.
    assert_ok(r)
    assert "bad_linked_input" in error_types(r, "mix1")
    assert r.node_errors["mix1"]["dependent_outputs"] == ["save1"]
    assert {"black", "white", "mask", "mix2", "save2"} <= r.executed
    assert not {"mix1", "save1"} & r.executed
    assert len(images_of(r, "save2")) == 1
    assert "save1" not in r.outputs

    # With the node back, the whole prompt runs: the executor survived.
    r = ex.execute(prompt)
    assert_ok(r)
    assert not r.node_errors
    assert {"removeme", "mix1", "save1"} <= r.executed
    assert len(images_of(r, "save1")) == 1


# --- 14-16: IS_CHANGED, undeclared inputs, loops -------------------------------------------


def test_custom_is_changed(ex, cache_mode):
    # Ids in this order (the output first) once exposed an ordering bug upstream.
    def prompt(should_change: bool) -> dict:
        return {
            "1": save("2"),
            "2": node("TestCustomIsChanged", image=link("3"), should_change=should_change),
            "3": image("BLACK"),
        }

    r1 = ex.execute(prompt(False))
    r2 = ex.execute(prompt(False))
    r3 = ex.execute(prompt(True))
    r4 = ex.execute(prompt(True))
    for r in (r1, r2, r3, r4):
        assert_ok(r)
    assert "2" in r1.executed
    if cache_mode != "none":
        assert "2" not in r2.executed
        assert "2" in r2.cached
    else:
        assert "2" in r2.executed
    # IS_CHANGED returns NaN, and NaN != NaN: the node reruns every time.
    assert "2" in r3.executed
    assert "2" in r4.executed


def test_undeclared_inputs(ex):
    r = ex.execute(
        {
            "i1": image("BLACK"),
            "i2": image("WHITE"),
            "i3": image("BLACK"),
            "i4": image("BLACK"),
            "avg": average("i1", "i2", "i3", "i4"),
            "save": save("avg"),
        }
    )
    assert_ok(r)
    assert pixel_value(r, "save") == 255 // 4


def test_for_loop(ex):
    prompt = {
        "black": image("BLACK"),
        "white": image("WHITE"),
        "is_changed": node("TestCustomIsChanged", should_change=True, image=link("white")),
        "open": node("TestForLoopOpen", remaining=1, initial_value1=link("is_changed")),
        "avg": average("black", link("open", 2)),
        "close": node("TestForLoopClose", flow_control=link("open"), initial_value1=link("avg")),
        "save": save("close"),
    }
    for iterations in range(1, 5):
        prompt["open"]["inputs"]["remaining"] = iterations
        r = ex.execute(prompt)
        assert_ok(r)
        # Each round averages with black: the value halves per iteration.
        assert pixel_value(r, "save") == 255 // 2**iterations
        assert "is_changed" in r.executed
        assert {"open", "close", "save"} <= r.executed
        ephemeral = {n for n in r.executed if n not in prompt}
        assert ephemeral, "the loop runs through expanded (ephemeral) nodes"


# --- 17-19: lists and expansion ----------------------------------------------------------


def test_mixed_expansion_returns(ex):
    r = ex.execute(
        {
            "values": make_list(0.1, 0.2, 0.3),
            "mixed": node("TestMixedExpansionReturns", input1=link("values")),
            "out_dynamic": save(link("mixed", 0)),
            "out_literal": save(link("mixed", 1)),
        }
    )
    assert_ok(r)
    assert len(images_of(r, "out_dynamic")) == 3
    assert [pixel_value(r, "out_dynamic", i) for i in range(3)] == [25, 51, 76]
    assert len(images_of(r, "out_literal")) == 3
    assert [pixel_value(r, "out_literal", i) for i in range(3)] == [255, 255, 255]


def test_mixed_lazy_results(ex):
    r = ex.execute(
        {
            "values": make_list(0.0, 0.5, 1.0),
            "mask": mask(link("values")),
            "black": image("BLACK"),
            "white": image("WHITE"),
            "mix": lazy_mix("black", "white", "mask"),
            "rebatch": node("RebatchImages", images=link("mix"), batch_size=3),
            "save": save("rebatch"),
        }
    )
    assert_ok(r)
    assert len(images_of(r, "save")) == 3
    assert [pixel_value(r, "save", i) for i in range(3)] == [0, 127, 255]


def test_output_reuse(ex):
    r = ex.execute({"black": image("BLACK"), "out1": save("black"), "out2": save("black")})
    assert_ok(r)
    assert len(images_of(r, "out1")) == 1
    assert len(images_of(r, "out2")) == 1


# --- 20: IS_CHANGED sees constants only -------------------------------------------------


def test_is_changed_with_outputs(ex, cache_mode):
    calls = stubs.TestIsChangedWithConstants.is_changed_calls
    calls.clear()
    prompt = {
        "const": constant_image(0.5),
        "test": node("TestIsChangedWithConstants", image=link("const"), value=0.5),
        "out": preview("test"),
    }
    r = ex.execute(prompt)
    assert_ok(r)
    assert len(images_of(r, "out")) == 1
    assert pixel_value(r, "out") == 63

    r = ex.execute(prompt)
    assert_ok(r)
    assert len(images_of(r, "out")) == 1
    assert pixel_value(r, "out") == 63
    if cache_mode != "none":
        assert "test" not in r.executed
        assert "test" in r.cached
    else:
        assert "test" in r.executed
    # IS_CHANGED gets constant inputs only; the linked image arrives as None.
    assert calls
    assert all(c["image"] is None and c["value"] == 0.5 for c in calls)


# --- 21-22: async nodes run concurrently ---------------------------------------------------
# ComfyUI sleeps ~3 s and ~5 s here; the durations and limits are scaled by 1/10.


def test_parallel_sleep_nodes(ex):
    warm_up(ex)
    prompt = {
        "image": image("BLACK"),
        "sleep1": sleep("image", 0.29),
        "sleep2": sleep("image", 0.31),
        "sleep3": sleep("image", 0.30),
        "out1": preview("sleep1"),
        "out2": preview("sleep2"),
        "out3": preview("sleep3"),
    }
    r, elapsed = timed(ex, prompt)
    assert_ok(r)
    assert elapsed < 0.89, f"three ~0.3 s sleeps took {elapsed:.2f} s: not concurrent"
    assert {"sleep1", "sleep2", "sleep3"} <= r.executed


def test_parallel_sleep_expansion(ex):
    warm_up(ex)
    prompt = {
        "image1": image("BLACK"),
        "image2": image("WHITE"),
        "image3": image("WHITE"),
        "parallel": node(
            "TestParallelSleep",
            image1=link("image1"),
            image2=link("image2"),
            image3=link("image3"),
            sleep1=0.48,
            sleep2=0.49,
            sleep3=0.50,
        ),
        "save": save("parallel"),
    }
    r, elapsed = timed(ex, prompt)
    assert_ok(r)
    assert elapsed < 1.3, f"expanded sleeps took {elapsed:.2f} s"
    assert "parallel" in r.executed
    assert len(images_of(r, "save")) == 1
    assert pixel_value(r, "save") == 170  # the average of black, white, white


# --- 23: ExecutionBlocker inside a list ----------------------------------------------------


def test_execution_block_list_output(ex):
    r = ex.execute(
        {
            "image1": image("BLACK"),
            "image2": image("WHITE"),
            "image3": image("BLACK"),
            "images": make_list(link("image1"), link("image2"), link("image3")),
            "int1": node("StubInt", value=1),
            "int2": node("StubInt", value=2),
            "int3": node("StubInt", value=3),
            "ints": make_list(link("int1"), link("int2"), link("int3")),
            "compare": node("TestIntConditions", a=link("ints"), b=2, operation="=="),
            "blocker": node(
                "TestExecutionBlocker", input=link("images"), block=link("compare"), verbose=False
            ),
            "list_out": make_list(link("blocker")),
            "out": preview("list_out"),
        }
    )
    assert_ok(r)
    assert "out" in r.executed
    # Only element 2 (the white image) is blocked, and silently.
    assert len(images_of(r, "out")) == 2
    assert [pixel_value(r, "out", i) for i in range(2)] == [0, 0]


# --- 24-29: partial execution ------------------------------------------------------------


def test_partial_execution_included_outputs(ex):
    r = ex.execute(
        {
            "input1": image("BLACK"),
            "input2": image("WHITE"),
            "output1": save("input1"),
            "output2": save("input2"),
        },
        outputs=["output1"],
    )
    assert_ok(r)
    assert {"input1", "output1"} <= r.executed | r.cached
    assert not {"input2", "output2"} & r.executed
    assert len(images_of(r, "output1")) == 1
    assert images_of(r, "output2") == []


def test_partial_execution_excluded_outputs(ex):
    r = ex.execute(
        {
            "input1": image("BLACK"),
            "input2": image("WHITE"),
            "input3": image("NOISE"),
            "output1": save("input1"),
            "output2": save("input2"),
            "output3": save("input3"),
        },
        outputs=["output1", "output3"],
    )
    assert_ok(r)
    assert {"input1", "input3", "output1", "output3"} <= r.executed | r.cached
    assert not {"input2", "output2"} & r.executed


def test_partial_execution_dependencies(ex):
    r = ex.execute(
        {
            "input1": image("BLACK"),
            "with_socket": node("TestOutputNodeWithSocketOutput", image=link("input1"), value=2.0),
            "mask": mask(0.5),
            "dependent": lazy_mix("with_socket", "input1", "mask"),
            "final": save("dependent"),
        },
        outputs=["final"],
    )
    assert_ok(r)
    # The untargeted OUTPUT_NODE still runs: the target depends on it.
    assert {"input1", "with_socket", "dependent", "final"} <= r.executed | r.cached


def test_partial_execution_with_lazy_nodes(ex):
    r = ex.execute(
        {
            "input1": image("BLACK"),
            "input2": image("WHITE"),
            "input3": image("NOISE"),
            "mask1": mask(0.0),  # needs image1 only
            "mask2": mask(0.5),  # needs both
            "mix1": lazy_mix("input1", "input2", "mask1"),
            "mix2": lazy_mix("input2", "input3", "mask2"),
            "output1": save("mix1"),
            "output2": save("mix2"),
        },
        outputs=["output1"],
    )
    assert_ok(r)
    assert r.executed | r.cached == {"input1", "mask1", "mix1", "output1"}
    assert not {"input2", "input3", "mask2", "mix2", "output2"} & r.executed


def test_partial_execution_multiple_output_nodes(ex):
    r = ex.execute(
        {
            "input1": image("BLACK"),
            "input2": image("WHITE"),
            "out1": node("TestOutputNodeWithSocketOutput", image=link("input1"), value=1.5),
            "out2": node("TestOutputNodeWithSocketOutput", image=link("out1"), value=2.0),
            "save1": save("out1"),
            "save2": save("out2"),
            "save3": save("input2"),
        },
        outputs=["save2"],
    )
    assert_ok(r)
    assert r.executed | r.cached == {"input1", "out1", "out2", "save2"}
    assert not {"input2", "save1", "save3"} & r.executed


def test_partial_execution_empty_list(ex):
    r = ex.execute({"input1": image("BLACK"), "output1": save("input1")}, outputs=[])
    assert r.status == "invalid"
    assert r.error["type"] == "prompt_no_outputs"
    assert r.executed == set()
