"""Primitive nodes: one widget, one output. ComfyUI's PrimitiveInt/Float/String/StringMultiline/
Boolean, and PrimitiveSeed, a seed source for samplers.

PrimitiveInt's value and PrimitiveSeed's seed carry ``control_after_generate``,
so the editor adds the fixed / increment / decrement / randomize widget and the
queue layer updates the value after each run (see ``engine.seeds``).
"""

from __future__ import annotations

import sys

CATEGORY = "utils/primitive"
SEED_MAX = 0xFFFFFFFFFFFFFFFF  # ComfyUI's seed inputs take any unsigned 64-bit value


def _primitive(name: str, spec: tuple, description: str) -> type:
    def execute(self, value):
        return (value,)

    return type(
        name,
        (),
        {
            "DESCRIPTION": description,
            "CATEGORY": CATEGORY,
            "RETURN_TYPES": (spec[0],),
            "FUNCTION": "execute",
            "INPUT_TYPES": classmethod(lambda cls: {"required": {"value": spec}}),
            "execute": execute,
            "__module__": __name__,
        },
    )


PrimitiveInt = _primitive(
    "PrimitiveInt",
    (
        "INT",
        {
            "default": 0,
            "min": -sys.maxsize,
            "max": sys.maxsize,
            "control_after_generate": True,
            "tooltip": "The integer (with control after generate).",
        },
    ),
    "An integer constant; its widget can change it after each run (fixed, increment, "
    "decrement, randomize).",
)
PrimitiveFloat = _primitive(
    "PrimitiveFloat",
    (
        "FLOAT",
        {"default": 0.0, "min": -sys.maxsize, "max": sys.maxsize, "tooltip": "The number."},
    ),
    "A floating-point constant.",
)
PrimitiveString = _primitive(
    "PrimitiveString",
    ("STRING", {"default": "", "tooltip": "The text."}),
    "A one-line text constant.",
)
PrimitiveStringMultiline = _primitive(
    "PrimitiveStringMultiline",
    ("STRING", {"default": "", "multiline": True, "tooltip": "The text."}),
    "A multi-line text constant.",
)
PrimitiveBoolean = _primitive(
    "PrimitiveBoolean",
    ("BOOLEAN", {"default": False, "tooltip": "True or false."}),
    "A boolean constant.",
)


class PrimitiveSeed:
    DESCRIPTION = (
        "A random seed (0 .. 2^64-1) to share between samplers. Its widget changes it after "
        "each run: fixed, increment, decrement or randomize (control after generate)."
    )
    CATEGORY = CATEGORY
    RETURN_TYPES = ("INT",)
    RETURN_NAMES = ("seed",)
    FUNCTION = "execute"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "seed": (
                    "INT",
                    {
                        "default": 0,
                        "min": 0,
                        "max": SEED_MAX,
                        "control_after_generate": True,
                        "tooltip": "The seed; what happens to it after each run is chosen in "
                        "the widget next to it.",
                    },
                )
            }
        }

    def execute(self, seed):
        return (seed,)


NODE_CLASS_MAPPINGS = {
    "PrimitiveInt": PrimitiveInt,
    "PrimitiveFloat": PrimitiveFloat,
    "PrimitiveString": PrimitiveString,
    "PrimitiveStringMultiline": PrimitiveStringMultiline,
    "PrimitiveBoolean": PrimitiveBoolean,
    "PrimitiveSeed": PrimitiveSeed,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "PrimitiveInt": "Int",
    "PrimitiveFloat": "Float",
    "PrimitiveString": "String",
    "PrimitiveStringMultiline": "String (Multiline)",
    "PrimitiveBoolean": "Boolean",
    "PrimitiveSeed": "Seed",
}
