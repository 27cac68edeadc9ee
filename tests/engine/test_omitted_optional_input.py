"""Case 69: an optional input missing from the prompt gets its schema default.

``OptionalInputs`` declares ``x`` (required), ``scale`` (optional, default 3)
and ``extra`` (optional, no default), and returns ``x * scale + extra``.
"""

from engine import Executor, node

from .cache_nodes import LOG, make_registry, ui_value


def prompt_with(**optional):
    return {
        "1": {"class_type": "Int", "inputs": {"value": 2}},
        "2": {"class_type": "OptionalInputs", "inputs": {"x": ["1", 0], **optional}},
        "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
    }


def test_omitted_optional_input_gets_its_schema_default(ex):
    r = ex.execute(prompt_with())
    assert r.status == "success"
    assert LOG.kwargs["OptionalInputs"]["scale"] == 3
    assert ui_value(r, "3") == 6


def test_omitted_optional_input_without_a_default_is_not_passed(ex):
    ex.execute(prompt_with())
    assert "extra" not in LOG.kwargs["OptionalInputs"]


def test_provided_value_wins_over_the_default(ex):
    r = ex.execute(prompt_with(scale=5))
    assert LOG.kwargs["OptionalInputs"]["scale"] == 5
    assert ui_value(r, "3") == 10


def test_provided_value_equal_to_zero_wins(ex):
    r = ex.execute(prompt_with(scale=0))
    assert LOG.kwargs["OptionalInputs"]["scale"] == 0
    assert ui_value(r, "3") == 0


def test_connected_optional_input_without_a_default_is_delivered(ex):
    prompt = prompt_with()
    prompt["4"] = {"class_type": "Int", "inputs": {"value": 100}}
    prompt["2"]["inputs"]["extra"] = ["4", 0]
    r = ex.execute(prompt)
    assert LOG.kwargs["OptionalInputs"] == {"scale": 3, "extra": 100}
    assert ui_value(r, "3") == 106


def test_connected_optional_input_with_a_default_gets_the_linked_value(ex):
    prompt = prompt_with()
    prompt["4"] = {"class_type": "Int", "inputs": {"value": 7}}
    prompt["2"]["inputs"]["scale"] = ["4", 0]
    r = ex.execute(prompt)
    assert LOG.kwargs["OptionalInputs"]["scale"] == 7
    assert ui_value(r, "3") == 14


def test_function_node_optional_input_omitted_uses_the_python_default(cache_mode):
    reg = make_registry()

    @node
    def scaled(x: int, factor: int | None = None) -> int:
        return x * (4 if factor is None else factor)

    reg.register(scaled)
    ex = Executor(reg, cache=cache_mode)
    prompt = {
        "1": {"class_type": "Int", "inputs": {"value": 2}},
        "2": {"class_type": "scaled", "inputs": {"x": ["1", 0]}},
        "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
    }
    r = ex.execute(prompt)
    assert r.status == "success"
    assert ui_value(r, "3") == 8
    prompt["2"]["inputs"]["factor"] = 3
    r = ex.execute(prompt)
    assert ui_value(r, "3") == 6
