"""One digest of a node's spec: ``NodeSpec``, read by validation, the run, object_info and the builder."""

from __future__ import annotations

import pytest

from engine import Executor, NodeRegistry, validate_prompt
from engine.nodespec import NO_DEFAULT, parse_inputs

from .stubs import v1_node


class AnyType(str):
    def __ne__(self, other):
        return False


SAMPLER_INPUTS = {
    "required": {
        "model": ("MODEL",),
        "seed": ("INT", {"default": 0, "min": 0, "max": 2**32}),
        "steps": ("INT", {"default": 20, "min": 1, "max": 100}),
        "sampler": (["euler", "ddim"],),
        "scheduler": ("COMBO", {"options": ["normal", "karras"], "default": "karras"}),
        "prompt": ("STRING", {"multiline": True, "tooltip": "what to draw"}),
        "denoise": ("FLOAT", {"default": 1.0, "forceInput": True}),
        "anything": (AnyType("*"),),
        "image": ("IMAGE", {"lazy": True}),
    },
    "optional": {
        "noise_seed": ("INT", {"default": 5}),
        "variation": ("INT", {"default": 1, "control_after_generate": True}),
        "strength": ("FLOAT", {"default": 0.5}),
        "mask": ("MASK",),
    },
    "hidden": {"node_id": "UNIQUE_ID", "token": "AUTH_TOKEN"},
}
SAMPLER = v1_node(
    "Sampler", returns=("LATENT",), INPUT_TYPES=classmethod(lambda cls: SAMPLER_INPUTS)
)


def spec_of(cls):
    reg = NodeRegistry()
    reg.register(cls, name=cls.__name__)
    return reg.get(cls.__name__).spec()


def test_inputs_in_order_with_their_kind_type_default_and_control():
    spec = spec_of(SAMPLER)
    table = [(i.name, i.section, i.kind, i.control) for i in spec.inputs]
    assert table == [
        ("model", "required", "link", False),
        ("seed", "required", "widget", True),  # an INT named seed
        ("steps", "required", "widget", False),
        ("sampler", "required", "widget", False),
        ("scheduler", "required", "widget", False),
        ("prompt", "required", "widget", False),
        ("denoise", "required", "link", False),  # forceInput makes a socket of a widget type
        ("anything", "required", "link", False),  # a pack's "any type" str subclass
        ("image", "required", "link", False),
        ("noise_seed", "optional", "widget", True),
        ("variation", "optional", "widget", True),  # control_after_generate in its options
        ("strength", "optional", "widget", False),
        ("mask", "optional", "link", False),
    ]
    assert spec.controlled == ("seed", "noise_seed", "variation")
    assert [i.name for i in spec.widgets][:3] == ["seed", "steps", "sampler"]
    assert spec.input("sampler").choices == ["euler", "ddim"]
    assert spec.input("scheduler").choices == ["normal", "karras"]
    assert spec.input("scheduler").default == "karras"
    assert spec.input("model").default is NO_DEFAULT
    assert spec.input("prompt").tooltip == "what to draw"
    assert spec.lazy == {"image"}
    assert spec.defaults == {"noise_seed": 5, "variation": 1, "strength": 0.5}
    assert [(i.name, i.type) for i in spec.hidden] == [
        ("node_id", "UNIQUE_ID"),
        ("token", "AUTH_TOKEN"),
    ]
    assert spec.engine_hidden == {"node_id": "UNIQUE_ID"}
    assert "token" in spec.declared and "node_id" not in spec.declared


def test_an_input_of_several_types_with_a_widget_type_is_a_widget():
    inputs, _ = parse_inputs(
        {
            "required": {
                "amount": ("INT,FLOAT", {"widgetType": "INT", "default": 1}),
                "number": ("INT,FLOAT", {}),
                "linked": ("INT,FLOAT", {"widgetType": "INT", "forceInput": True}),
            }
        }
    )
    assert [(i.name, i.kind) for i in inputs] == [
        ("amount", "widget"),
        ("number", "link"),
        ("linked", "link"),
    ]


def test_parsed_again_only_when_input_types_changes():
    calls = []
    choices = ["a.png"]

    class Folder:
        RETURN_TYPES = ("STRING",)
        FUNCTION = "run"

        @classmethod
        def INPUT_TYPES(cls):
            calls.append(1)
            return {"required": {"name": (list(choices),)}}

        def run(self, name):
            return (name,)

    reg = NodeRegistry()
    reg.register(Folder)
    node_type = reg.get("Folder")
    first = node_type.spec()
    assert node_type.spec() is first  # equal INPUT_TYPES(): the same digest
    choices.append("b.png")
    second = node_type.spec()
    assert second is not first and second.input("name").choices == ["a.png", "b.png"]
    assert len(calls) == 3  # called every time: it may list a folder


def test_validation_the_run_and_object_info_read_the_same_digest():
    reg = NodeRegistry()
    reg.register(SAMPLER, name="Sampler")
    pick = v1_node("Pick", {"choice": (["a", "b"],)}, returns=("STRING",), output=True)
    reg.register(pick)
    spec = reg.get("Pick").spec()
    v = validate_prompt({"1": {"class_type": "Pick", "inputs": {"choice": "b"}}}, reg)
    assert v.ok and v.specs["Pick"] is spec
    info = reg.object_info("Sampler")["Sampler"]
    sampler = reg.get("Sampler").spec()
    assert list(info["input"]["required"]) == [i.name for i in sampler.inputs if i.required]
    assert info["output_name"] == ["LATENT"]


@pytest.mark.parametrize("bad", [{"required": ["x"]}, {"optional": 5}])
def test_a_malformed_input_types_is_a_validation_error_naming_the_node(bad):
    reg = NodeRegistry()
    reg.register(
        v1_node("Odd", returns=("INT",), output=True, INPUT_TYPES=classmethod(lambda c: bad))
    )
    r = Executor(reg).execute({"7": {"class_type": "Odd", "inputs": {}}})
    assert r.status == "invalid"
    (problem,) = r.node_errors["7"]["errors"]
    assert problem["type"] == "exception_during_validation"
    assert "INPUT_TYPES()" in problem["details"]
