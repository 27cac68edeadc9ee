"""A V3 test pack (comfy_api.latest): schema, lazy input, fingerprint_inputs, hidden inputs."""

import asyncio

from comfy_api.latest import ComfyAPI, ComfyExtension, io, ui
from typing_extensions import override

# What the nodes did, for the tests to read: (node type, detail).
CALLS = []
# fingerprint_inputs of TestV3Source returns this: the node reruns when it changes.
EPOCH = [0]


class Source(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="TestV3Source",
            display_name="Source (test V3)",
            category="test/v3",
            description="An image of one value.",
            inputs=[
                io.Float.Input(
                    "value", default=0.5, min=0.0, max=1.0, step=0.1, tooltip="The value."
                ),
                io.Int.Input("size", default=2, min=1, max=64, control_after_generate=False),
                io.Combo.Input("channels", options=["rgb", "rgba"], default="rgb"),
                io.String.Input("label", multiline=True, default="", optional=True),
            ],
            outputs=[io.Image.Output(display_name="image"), io.String.Output("label_out")],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def fingerprint_inputs(cls, value, size, channels, label=""):
        return EPOCH[0]

    @classmethod
    def execute(cls, value, size, channels, label="") -> io.NodeOutput:
        import torch

        CALLS.append(("TestV3Source", cls.hidden.unique_id))
        count = 3 if channels == "rgb" else 4
        return io.NodeOutput(
            torch.full((1, size, size, count), value), f"{label}@{cls.hidden.unique_id}"
        )


class Choose(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="TestV3Choose",
            category="test/v3",
            inputs=[
                io.Boolean.Input("use_b", default=False),
                io.Image.Input("a", lazy=True),
                io.Image.Input("b", lazy=True, optional=True),
            ],
            outputs=[io.Image.Output()],
        )

    @classmethod
    def check_lazy_status(cls, use_b, a=None, b=None):
        CALLS.append(("TestV3Choose.check_lazy_status", (use_b, a is None, b is None)))
        if use_b:
            return ["b"] if b is None else []
        return ["a"] if a is None else []

    @classmethod
    def execute(cls, use_b, a=None, b=None) -> io.NodeOutput:
        return io.NodeOutput(b if use_b else a)


class Show(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="TestV3Show",
            category="test/v3",
            is_output_node=True,
            inputs=[io.AnyType.Input("value"), io.Int.Input("limit", default=10, min=1)],
            outputs=[],
        )

    @classmethod
    def validate_inputs(cls, limit):
        return True if limit != 13 else "13 is unlucky"

    @classmethod
    def execute(cls, value, limit) -> io.NodeOutput:
        text = str(value)[:limit]
        return io.NodeOutput(ui=ui.PreviewText(f"{text} prompt={cls.hidden.prompt is not None}"))


class Sum(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        template = io.Autogrow.TemplatePrefix(io.Float.Input("value"), prefix="value", min=1, max=4)
        mode = io.DynamicCombo.Input(
            "scale",
            options=[
                io.DynamicCombo.Option("none", []),
                io.DynamicCombo.Option("by", [io.Float.Input("factor", default=10.0)]),
            ],
        )
        return io.Schema(
            node_id="TestV3Sum",
            category="test/v3",
            inputs=[io.Autogrow.Input("values", template=template), mode],
            outputs=[io.Float.Output(), io.String.Output()],
        )

    @classmethod
    def execute(cls, values, scale) -> io.NodeOutput:
        total = sum(values.values())
        if scale["scale"] == "by":
            total *= scale["factor"]
        return io.NodeOutput(total, f"{sorted(values)} {scale}")


class Later(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="TestV3Later",
            category="test/v3",
            inputs=[io.Float.Input("value")],
            outputs=[io.Float.Output()],
        )

    @classmethod
    async def execute(cls, value) -> io.NodeOutput:
        await asyncio.sleep(0)
        await ComfyAPI().execution.set_progress(1, 2)
        return io.NodeOutput(value * 2)


class Extension(ComfyExtension):
    @override
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return [Source, Choose, Show, Sum, Later]


async def comfy_entrypoint() -> Extension:
    return Extension()
