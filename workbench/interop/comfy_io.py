"""ComfyUI's V3 node schema API (``comfy_api.latest.io``), as node packs use it.

A V3 node is a class::

    class Invert(io.ComfyNode):
        @classmethod
        def define_schema(cls):
            return io.Schema(node_id="MyInvert", category="image",
                             inputs=[io.Image.Input("image"), io.Float.Input("amount", default=1.0)],
                             outputs=[io.Image.Output()])

        @classmethod
        def execute(cls, image, amount) -> io.NodeOutput:
            return io.NodeOutput(image * (1 - amount) + (1 - image) * amount)

Inputs and outputs are made by the nested ``Input``/``Output`` classes of a
*type* (``io.Int``, ``io.Image``, ``io.Custom("MY_TYPE")``...). Each input
knows how it reads in ComfyUI's V1 form (``v1_type()``, ``v1_options()``: the
``INPUT_TYPES`` entry it stands for), which ``adapter.py`` uses to register
the node in the engine's V1 registry. Names and semantics follow ComfyUI's
``comfy_api.latest``.

Supported: the widget types (Boolean, Int, Float, String, Combo, MultiCombo,
Color), the socket types ComfyUI lists (Image, Mask, Latent, Model...,
``AnyType``) and any ``Custom`` type, ``MultiType``, ``MatchType``, and the
dynamic ``Autogrow`` and ``DynamicCombo`` (as flat inputs, ``engine.dynamic``).
Not supported: ``DynamicSlot`` and nested dynamic inputs, ``accept_all_inputs``.
"""

from __future__ import annotations

import copy
from enum import Enum
from typing import Any

import torch

# The node, its schema and outputs are part of this module's API, as in ComfyUI's io.
from .v3_node import ComfyNode as ComfyNode
from .v3_node import Hidden as Hidden
from .v3_node import HiddenHolder as HiddenHolder
from .v3_node import NodeOutput as NodeOutput
from .v3_node import Schema as Schema

# --- enums packs pass as options ---


class FolderType(str, Enum):
    input = "input"
    output = "output"
    temp = "temp"


class UploadType(str, Enum):
    image = "image_upload"
    audio = "audio_upload"
    video = "video_upload"
    model = "file_upload"


class NumberDisplay(str, Enum):
    number = "number"
    slider = "slider"


def _pruned(options: dict) -> dict:
    """``options`` without the entries that are None (ComfyUI leaves unset options out)."""
    return {k: v for k, v in options.items() if v is not None}


def _value(option: Any) -> Any:
    return option.value if isinstance(option, Enum) else option


# --- inputs and outputs ---


class Input:
    """An input of a V3 node; ``io_type`` comes from the type it belongs to.

    Type-specific options (``min``, ``multiline``...) are keyword arguments.
    """

    io_type: Any = "*"

    def __init__(self, id: str, display_name: str | None = None, optional: bool = False,
                 tooltip: str | None = None, lazy: bool | None = None,
                 extra_dict: dict | None = None, raw_link: bool | None = None,
                 advanced: bool | None = None):  # fmt: skip
        self.id = id
        self.display_name = display_name
        self.optional = optional
        self.tooltip = tooltip
        self.lazy = lazy
        self.extra_dict = dict(extra_dict or {})
        self.raw_link = raw_link
        self.advanced = advanced

    def v1_type(self) -> Any:
        """The type in ``INPUT_TYPES`` (a type name, or ``"A,B"`` for several)."""
        return str(self.io_type)

    def v1_options(self) -> dict:
        """The options dict in ``INPUT_TYPES`` (ComfyUI's ``as_dict`` without ``optional``)."""
        own = {
            "display_name": self.display_name,
            "tooltip": self.tooltip,
            "lazy": self.lazy,
            "rawLink": self.raw_link,
            "advanced": self.advanced,
        }
        return _pruned(own) | _pruned(self.extra_dict)


class WidgetInput(Input):
    """An input with a widget (a constant the editor shows)."""

    def __init__(self, id: str, display_name: str | None = None, optional: bool = False,
                 tooltip: str | None = None, lazy: bool | None = None, default: Any = None,
                 socketless: bool | None = None, widget_type: str | None = None,
                 force_input: bool | None = None, **common: Any):  # fmt: skip
        super().__init__(id, display_name, optional, tooltip, lazy, **common)
        self.default = default
        self.socketless = socketless
        self.widget_type = widget_type
        self.force_input = force_input

    def v1_type(self) -> Any:
        return self.widget_type if self.widget_type is not None else str(self.io_type)

    def v1_options(self) -> dict:
        own = {
            "default": _value(self.default),
            "socketless": self.socketless,
            "widgetType": self.widget_type,
            "forceInput": self.force_input,
        }
        return super().v1_options() | _pruned(own)


class Output:
    """An output of a V3 node."""

    io_type: Any = "*"

    def __init__(self, id: str | None = None, display_name: str | None = None,
                 tooltip: str | None = None, is_output_list: bool = False):  # fmt: skip
        self.id = id
        self.display_name = display_name
        self.tooltip = tooltip
        self.is_output_list = is_output_list

    def v1_type(self) -> Any:
        return str(self.io_type)


# --- types ---


class ComfyTypeI:
    """A type with an ``Input`` only."""

    io_type: str = "*"
    Type: Any = Any
    Input = Input


class ComfyTypeIO(ComfyTypeI):
    """A type with an ``Input`` and an ``Output``."""

    Output = Output


def comfytype(io_type: str, **_ignored):
    """Class decorator: make ``cls`` the type ``io_type``; its Input/Output know it."""

    def decorate(cls):
        cls.io_type = io_type
        for role in ("Input", "Output"):
            base = getattr(cls, role, None)
            if isinstance(base, type):
                nested = type(role, (base,), {"io_type": io_type, "__module__": cls.__module__})
                nested.__qualname__ = f"{cls.__qualname__}.{role}"
                setattr(cls, role, nested)
        return cls

    return decorate


def Custom(io_type: str) -> type[ComfyTypeIO]:
    """A socket type of a pack's own (e.g. ``io.Custom("MY_MODEL")``)."""
    return comfytype(io_type)(type(f"Custom_{io_type}", (ComfyTypeIO,), {}))


@comfytype("BOOLEAN")
class Boolean(ComfyTypeIO):
    Type = bool

    class Input(WidgetInput):
        def __init__(self, id, display_name=None, optional=False, tooltip=None, lazy=None,
                     default=None, *, label_on=None, label_off=None, **widget):  # fmt: skip
            super().__init__(id, display_name, optional, tooltip, lazy, default, **widget)
            self.label_on, self.label_off = label_on, label_off

        def v1_options(self):
            labels = {"label_on": self.label_on, "label_off": self.label_off}
            return super().v1_options() | _pruned(labels)


class _NumberInput(WidgetInput):
    def __init__(self, id, display_name=None, optional=False, tooltip=None, lazy=None,
                 default=None, min=None, max=None, step=None, *, round=None,
                 control_after_generate=None, display_mode=None, **widget):  # fmt: skip
        super().__init__(id, display_name, optional, tooltip, lazy, default, **widget)
        self.min, self.max, self.step, self.round = min, max, step, round
        self.control_after_generate = control_after_generate
        self.display_mode = display_mode

    def v1_options(self):
        own = {
            "min": self.min,
            "max": self.max,
            "step": self.step,
            "round": self.round,
            "control_after_generate": self.control_after_generate,
            "display": _value(self.display_mode),
        }
        return super().v1_options() | _pruned(own)


@comfytype("INT")
class Int(ComfyTypeIO):
    Type = int
    Input = _NumberInput


@comfytype("FLOAT")
class Float(ComfyTypeIO):
    Type = float
    Input = _NumberInput


@comfytype("STRING")
class String(ComfyTypeIO):
    Type = str

    class Input(WidgetInput):
        def __init__(self, id, display_name=None, optional=False, tooltip=None, lazy=None,
                     multiline=False, placeholder=None, default=None, *,
                     dynamic_prompts=None, **widget):  # fmt: skip
            super().__init__(id, display_name, optional, tooltip, lazy, default, **widget)
            self.multiline, self.placeholder = multiline, placeholder
            self.dynamic_prompts = dynamic_prompts

        def v1_options(self):
            own = {
                "multiline": self.multiline or None,
                "placeholder": self.placeholder,
                "dynamicPrompts": self.dynamic_prompts,
            }
            return super().v1_options() | _pruned(own)


@comfytype("COMBO")
class Combo(ComfyTypeIO):
    Type = str

    class Input(WidgetInput):
        def __init__(self, id, options=None, display_name=None, optional=False, tooltip=None,
                     lazy=None, default=None, control_after_generate=None, *, upload=None,
                     image_folder=None, remote=None, **widget):  # fmt: skip
            if isinstance(options, type) and issubclass(options, Enum):
                options = [member.value for member in options]
            super().__init__(id, display_name, optional, tooltip, lazy, _value(default), **widget)
            self.options = [_value(o) for o in options] if options is not None else []
            self.multiselect = False
            self.control_after_generate = control_after_generate
            self.upload, self.image_folder, self.remote = upload, image_folder, remote

        def v1_options(self):
            remote = self.remote.as_dict() if hasattr(self.remote, "as_dict") else self.remote
            own = {
                "multiselect": self.multiselect,
                "options": self.options,
                "control_after_generate": self.control_after_generate,
                "image_folder": _value(self.image_folder),
                "remote": remote,
            }
            if self.upload is not None:
                own[_value(self.upload)] = True
            return super().v1_options() | _pruned(own)

    class Output(Output):
        def __init__(self, id=None, display_name=None, options=None, tooltip=None,
                     is_output_list=False):  # fmt: skip
            super().__init__(id, display_name, tooltip, is_output_list)
            self.options = list(options or [])

        def v1_type(self):
            return list(self.options)  # a COMBO output: the list of choices, as V1


@comfytype("COMBO")
class MultiCombo(ComfyTypeI):
    Type = list

    class Input(Combo.Input):
        def __init__(self, id, options, display_name=None, optional=False, tooltip=None,
                     lazy=None, default=None, *, placeholder=None, chip=None, **combo):  # fmt: skip
            super().__init__(id, options, display_name, optional, tooltip, lazy, default, **combo)
            self.multiselect = True
            self.placeholder, self.chip = placeholder, chip

        def v1_options(self):
            own = {"multi_select": True, "placeholder": self.placeholder, "chip": self.chip}
            return super().v1_options() | _pruned(own)


@comfytype("COLOR")
class Color(ComfyTypeIO):
    Type = str

    class Input(WidgetInput):
        def __init__(self, id, display_name=None, optional=False, tooltip=None,
                     socketless=True, advanced=None, default="#ffffff"):  # fmt: skip
            super().__init__(id, display_name, optional, tooltip, None, default, socketless,
                             advanced=advanced)  # fmt: skip


# Socket types: (attribute, io type, the Python type of its values).
_SOCKETS = [
    ("Image", "IMAGE", torch.Tensor),
    ("Mask", "MASK", torch.Tensor),
    ("Latent", "LATENT", dict),
    ("Conditioning", "CONDITIONING", list),
    ("Sampler", "SAMPLER", Any),
    ("Sigmas", "SIGMAS", torch.Tensor),
    ("Noise", "NOISE", Any),
    ("Guider", "GUIDER", Any),
    ("Clip", "CLIP", Any),
    ("ControlNet", "CONTROL_NET", Any),
    ("Vae", "VAE", Any),
    ("Model", "MODEL", Any),
    ("ClipVision", "CLIP_VISION", Any),
    ("ClipVisionOutput", "CLIP_VISION_OUTPUT", Any),
    ("StyleModel", "STYLE_MODEL", Any),
    ("Gligen", "GLIGEN", Any),
    ("UpscaleModel", "UPSCALE_MODEL", Any),
    ("Audio", "AUDIO", dict),
    ("Video", "VIDEO", Any),
    ("SVG", "SVG", Any),
    ("LoraModel", "LORA_MODEL", dict),
    ("LossMap", "LOSS_MAP", dict),
    ("Voxel", "VOXEL", Any),
    ("Mesh", "MESH", Any),
    ("Hooks", "HOOKS", Any),
    ("HookKeyframes", "HOOK_KEYFRAMES", Any),
    ("TimestepsRange", "TIMESTEPS_RANGE", tuple),
    ("LatentOperation", "LATENT_OPERATION", Any),
    ("FlowControl", "FLOW_CONTROL", tuple),
    ("Accumulation", "ACCUMULATION", dict),
    ("Photomaker", "PHOTOMAKER", Any),
    ("Point", "POINT", Any),
    ("FaceAnalysis", "FACE_ANALYSIS", Any),
    ("BBOX", "BBOX", Any),
    ("SEGS", "SEGS", Any),
    ("AnyType", "*", Any),
    ("ModelPatch", "MODEL_PATCH", Any),
    ("AudioEncoder", "AUDIO_ENCODER", Any),
    ("AudioEncoderOutput", "AUDIO_ENCODER_OUTPUT", Any),
    ("Tracks", "TRACKS", dict),
    ("Dict", "DICT", dict),
    ("Array", "ARRAY", list),
    ("Histogram", "HISTOGRAM", list),
]
for _name, _io_type, _python_type in _SOCKETS:
    _cls = comfytype(_io_type)(
        type(_name, (ComfyTypeIO,), {"Type": _python_type, "__module__": __name__})
    )
    globals()[_name] = _cls
MODEL_PATCH = globals()["ModelPatch"]  # ComfyUI's older spelling


def _io_type_of(t: Any) -> str:
    return str(t.io_type if hasattr(t, "io_type") else t)


class MultiType:
    """An input that accepts several types (``"A,B"``); with an input as ``id``, its widget."""

    Type = Any

    class Input(Input):
        def __init__(self, id, types, **common):
            self.widget = None
            if isinstance(id, Input):  # its widget, and its options unless given
                widget = self.widget = copy.copy(id)
                for name in ("display_name", "tooltip", "lazy"):
                    if common.get(name) is None:
                        common[name] = getattr(widget, name)
                common["optional"] = common.get("optional") or widget.optional
                if isinstance(widget, WidgetInput):
                    widget.widget_type = widget.v1_type()
                id = widget.id
            super().__init__(id, **common)
            self.types = list(types)

        def v1_type(self):
            names = [_io_type_of(t) for t in self.types]
            if self.widget is not None:
                names.insert(0, self.widget.v1_type())
            return ",".join(dict.fromkeys(names))

        def v1_options(self):
            widget = self.widget.v1_options() if self.widget is not None else {}
            return widget | super().v1_options()


class MatchType(ComfyTypeIO):
    """Inputs and outputs that all take one type, picked in the editor from what is connected.

    Here their type is the template's allowed types (``"*"`` for any), so any of
    them fits, and the template is kept in the options.
    """

    io_type = "COMFY_MATCHTYPE_V3"

    class Template:
        def __init__(self, template_id: str, allowed_types: Any = None):
            self.template_id = template_id
            if allowed_types is None:
                allowed_types = [globals()["AnyType"]]
            elif not isinstance(allowed_types, (list, tuple)):
                allowed_types = [allowed_types]
            self.allowed_types = list(allowed_types)

        def v1_type(self) -> str:
            return ",".join(_io_type_of(t) for t in self.allowed_types)

        def as_dict(self) -> dict:
            return {"template_id": self.template_id, "allowed_types": self.v1_type()}

    class Input(Input):
        def __init__(self, id, template, **common):
            super().__init__(id, **common)
            self.template = template

        def v1_type(self):
            return self.template.v1_type()

        def v1_options(self):
            return super().v1_options() | {"template": self.template.as_dict()}

    class Output(Output):
        def __init__(
            self, template=None, id=None, display_name=None, tooltip=None, is_output_list=False
        ):
            if isinstance(template, str):  # an older signature: Output(id, template, ...)
                template, id = id, template
            if not id and not display_name:
                display_name = "MATCHTYPE"
            super().__init__(id, display_name, tooltip, is_output_list)
            self.template = template

        def v1_type(self):
            return self.template.v1_type()


class DynamicInput(Input):
    """An input that stands for several in a prompt (``engine.dynamic``)."""


class Autogrow(ComfyTypeI):
    """A group of sockets that grows as they are connected: ``values.a``, ``values.b``..."""

    io_type = "COMFY_AUTOGROW_V3"
    Type = dict

    class _Template:
        def __init__(self, input: Input, names: list[str], min: int):
            if isinstance(input, DynamicInput):
                raise TypeError("an Autogrow template cannot be a dynamic input")
            self.input = copy.copy(input)
            self.names = list(names)[:100]  # ComfyUI's bound
            self.min = min

    class TemplatePrefix(_Template):
        def __init__(self, input: Input, prefix: str, min: int = 1, max: int = 10):
            super().__init__(input, [f"{prefix}{i}" for i in range(max)], min)
            self.prefix, self.max = prefix, max

    class TemplateNames(_Template):
        def __init__(self, input: Input, names: list[str], min: int = 1):
            super().__init__(input, names, min)

    class Input(DynamicInput):
        def __init__(self, id, template, **common):
            super().__init__(id, **common)
            self.template = template


class DynamicCombo(ComfyTypeI):
    """A combo whose chosen option adds its own inputs: ``resize_type.width``..."""

    io_type = "COMFY_DYNAMICCOMBO_V3"
    Type = dict

    class Option:
        def __init__(self, key: str, inputs: list[Input]):
            self.key = _value(key)
            self.inputs = list(inputs)

    class Input(DynamicInput):
        def __init__(self, id, options, **common):
            super().__init__(id, **common)
            self.options = list(options)
