"""Switching between two branches: ComfyUI's If/Else Switch (``ComfySwitchNode``).

Both branches are lazy inputs: only the one the switch selects is computed, so
the other branch of the graph does not run at all (``check_lazy_status`` asks
for the chosen input only).

ComfyUI types the branches and the output with a match-type template
(``COMFY_MATCHTYPE_V3``: the frontend makes them all the type of whatever is
connected). Here they are ``"*"``, with the template kept in their options, so
any link fits and validation accepts the output wherever the input went.
"""

from __future__ import annotations

_MISSING = object()  # an optional input that is not connected (None: connected, not computed)
_TEMPLATE = {"template": {"template_id": "switch", "allowed_types": "*"}}


class ComfySwitchNode:
    DESCRIPTION = (
        "Passes on_true on when switch is true, else on_false. Only the chosen input is "
        "computed: the branch that is not chosen does not run. An input that is not connected "
        "gives None."
    )
    CATEGORY = "utilities/logic"
    EXPERIMENTAL = True
    RETURN_TYPES = ("*",)
    RETURN_NAMES = ("output",)
    FUNCTION = "switch"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "switch": (
                    "BOOLEAN",
                    {"default": False, "tooltip": "Which input to pass on: on_true or on_false."},
                ),
            },
            "optional": {
                "on_false": (
                    "*",
                    {"lazy": True, "tooltip": "Passed on when switch is false.", **_TEMPLATE},
                ),
                "on_true": (
                    "*",
                    {"lazy": True, "tooltip": "Passed on when switch is true.", **_TEMPLATE},
                ),
            },
        }

    def check_lazy_status(self, switch, on_false=_MISSING, on_true=_MISSING):
        if switch and on_true is None:
            return ["on_true"]
        if not switch and on_false is None:
            return ["on_false"]
        return []

    def switch(self, switch, on_false=_MISSING, on_true=_MISSING):
        chosen = on_true if switch else on_false
        return (None if chosen is _MISSING else chosen,)


NODE_CLASS_MAPPINGS = {"ComfySwitchNode": ComfySwitchNode}
NODE_DISPLAY_NAME_MAPPINGS = {"ComfySwitchNode": "If/Else Switch"}
