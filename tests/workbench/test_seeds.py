"""Seeds per run: control after generate resolved at submit time, once per job."""

from __future__ import annotations

import random

import pytest

from engine import NodeOutput, NodeRegistry
from engine.seeds import plan_seeds
from workbench import Workbench


@pytest.fixture
def wb(tmp_path):
    session = Workbench(data_dir=tmp_path, persist=False)

    @session.node
    def noise(seed: int = 0, scale: float = 1.0) -> float:
        return random.Random(seed).random() * scale

    @session.node(output=True)
    def show(value: float) -> None:
        return NodeOutput(ui={"value": [value]})

    yield session
    session.close()


def build(wb, **control):
    g = wb.graph()
    sample = g.noise(seed=100, **control)
    g.show(value=sample)
    return g, sample


@pytest.mark.parametrize("partial", [False, True], ids=["full", "partial"])
def test_a_batch_of_n_gets_n_seeds_and_n_real_runs(wb, partial):
    g, sample = build(wb)
    outputs = [sample] if partial else None  # ComfyUI's frontend gives N equal seeds here
    runs = wb.run(g, outputs=outputs, number=3, seed_control="randomize", progress=False)
    seeds = [r.seeds[sample.node_id]["seed"] for r in runs]
    assert seeds[0] == 100 and len(set(seeds)) == 3
    assert all(sample.node_id in r.executed for r in runs)  # three real runs, none cached
    if not partial:  # each run's own sample (the classic cache keeps only the last's value)
        assert len({r.outputs["show_1"]["value"][0] for r in runs}) == 3
    records = {rec["prompt_id"]: rec for rec in wb.queue.history()}
    assert [records[r.job.id]["seeds"][sample.node_id]["seed"] for r in runs] == seeds
    # The graph keeps the value after the last job, as ComfyUI's widget shows the next seed.
    assert g.to_prompt()[sample.node_id]["inputs"]["seed"] not in seeds
    # A recorded seed reproduces its sample.
    again = wb.graph()
    again.show(value=again.noise(seed=seeds[1]))
    assert wb.run(again, progress=False)["noise_1"] == random.Random(seeds[1]).random()


def test_increment_set_on_the_node_steps_from_its_value(wb):
    g, sample = build(wb, control_after_generate="increment")
    assert g.node(sample).control == {"seed": "increment"}
    runs = wb.run(g, number=3, progress=False)
    assert [r.seeds[sample.node_id]["seed"] for r in runs] == [100, 101, 102]
    assert g.to_prompt()[sample.node_id]["inputs"]["seed"] == 103
    assert wb.run(g, progress=False).seeds[sample.node_id]["seed"] == 103


def test_fixed_seeds_give_one_run_and_say_so(wb, capsys):
    g, sample = build(wb)
    runs = wb.run(g, number=3, progress=False)
    assert [bool(r.executed) for r in runs] == [True, False, False]
    assert "no seed of this graph changes between runs" in capsys.readouterr().err


def test_a_function_building_the_graph_is_called_once_per_job(wb):
    values = iter([1.0, 2.0, 3.0])

    def make():
        g = wb.graph()
        g.show(value=g.noise(scale=next(values)))
        return g

    runs = wb.run(make, number=3, progress=False)
    assert [r.outputs["show_1"]["value"][0] for r in runs] == [
        random.Random(0).random() * scale for scale in (1.0, 2.0, 3.0)
    ]


def test_bad_policies_are_refused_at_the_call(wb):
    g, sample = build(wb)
    with pytest.raises(ValueError, match="control_after_generate for 'seed' must be one of"):
        g.node(sample).set(control_after_generate="sometimes")
    with pytest.raises(TypeError, match="show\\(\\) has no input with control after generate"):
        g.node("show_1").set(control_after_generate="randomize")


def test_plan_leaves_links_and_uncontrolled_inputs_alone(wb):
    registry: NodeRegistry = wb.registry
    prompt = {
        "a": {"class_type": "noise", "inputs": {"seed": 5, "scale": 2.0}},
        "b": {"class_type": "noise", "inputs": {"seed": ["a", 0]}},
    }
    control = {"a": {"seed": "decrement", "scale": "increment"}, "b": {"seed": "increment"}}
    plan = plan_seeds(prompt, control, registry, 2)
    assert plan.used == [{"a": {"seed": 5}}, {"a": {"seed": 4}}]
    assert plan.after[-1] == {"a": {"seed": 3}}
    with pytest.raises(ValueError, match="must be one of"):
        plan_seeds(prompt, {"a": {"seed": "later"}}, registry, 1)
