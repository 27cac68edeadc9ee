"""A V3 node (ComfyUI's ``io.ComfyNode``), its ``Schema``, ``NodeOutput`` and hidden inputs.

Part of the ``comfy_api.latest.io`` stand-in (``comfy_io.py`` re-exports these);
``adapter.py`` turns such a node into a V1 class for the engine's registry.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from enum import Enum
from typing import Any

from engine import ExecutionBlocker

# --- hidden inputs ---


class Hidden(str, Enum):
    """Values the engine gives a node besides its inputs (``cls.hidden.<name>``)."""

    unique_id = "UNIQUE_ID"
    prompt = "PROMPT"
    extra_pnginfo = "EXTRA_PNGINFO"
    dynprompt = "DYNPROMPT"
    auth_token_comfy_org = "AUTH_TOKEN_COMFY_ORG"
    api_key_comfy_org = "API_KEY_COMFY_ORG"
    comfy_usage_source = "COMFY_USAGE_SOURCE"


class HiddenHolder:
    """``cls.hidden`` during a call: each ``Hidden`` value by its name, None when not given."""

    def __init__(self, values: dict[str, Any] | None = None):
        self._values = dict(values or {})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._values.get(name)


_NO_HIDDEN = HiddenHolder()
_hidden: contextvars.ContextVar[HiddenHolder] = contextvars.ContextVar(
    "v3_hidden", default=_NO_HIDDEN
)


class _CallsHidden:
    """``cls.hidden``: the hidden inputs of the call running here (this thread or task).

    ComfyUI sets them on a copy of the class made for each call; a context
    variable does the same without making a class per call.
    """

    def __get__(self, instance: Any, owner: type) -> HiddenHolder:
        return _hidden.get()


@contextlib.contextmanager
def hidden_inputs(holder: HiddenHolder) -> Iterator[None]:
    """Make ``holder`` what ``cls.hidden`` gives for the code inside."""
    token = _hidden.set(holder)
    try:
        yield
    finally:
        _hidden.reset(token)


# --- the node ---


class Schema:
    """What a V3 node is: its id, inputs, outputs and flags (ComfyUI's ``io.Schema``).

    Options ComfyUI added that the workbench does not use (``search_aliases``,
    ``price_badge``...) are accepted and kept in ``extra``.
    """

    def __init__(
        self,
        node_id: str,
        display_name: str | None = None,
        category: str = "sd",
        inputs: list | None = None,
        outputs: list | None = None,
        hidden: list | None = None,
        description: str = "",
        is_input_list: bool = False,
        is_output_node: bool = False,
        is_deprecated: bool = False,
        is_experimental: bool = False,
        is_api_node: bool = False,
        not_idempotent: bool = False,
        enable_expand: bool = False,
        accept_all_inputs: bool = False,
        **extra: Any,
    ):
        self.node_id = node_id
        self.display_name = display_name
        self.category = category
        self.inputs = list(inputs or [])
        self.outputs = list(outputs or [])
        self.hidden = list(hidden or [])
        self.description = description
        self.is_input_list = is_input_list
        self.is_output_node = is_output_node
        self.is_deprecated = is_deprecated
        self.is_experimental = is_experimental
        self.is_api_node = is_api_node
        self.not_idempotent = not_idempotent
        self.enable_expand = enable_expand
        self.accept_all_inputs = accept_all_inputs
        self.extra = extra

    def finalize(self) -> Schema:
        """Add the hidden inputs the flags imply and ids for outputs without one (as ComfyUI)."""
        wanted = list(self.hidden)
        if self.is_api_node:
            wanted += [Hidden.auth_token_comfy_org, Hidden.api_key_comfy_org]
        if self.is_output_node:
            wanted += [Hidden.prompt, Hidden.extra_pnginfo]
        self.hidden = list(dict.fromkeys(wanted))
        for index, output in enumerate(self.outputs):
            if output.id is None:
                output.id = f"_{index}_{output.v1_type()}_"
        return self


class NodeOutput:
    """What ``execute`` returns: the output values, and optionally ``ui``, ``expand``, or
    ``block_execution`` (a message: everything downstream is blocked, as ``ExecutionBlocker``)."""

    def __init__(
        self,
        *args: Any,
        ui: Any = None,
        expand: dict | None = None,
        block_execution: str | None = None,
    ):
        self.args = args
        self.ui = ui
        self.expand = expand
        self.block_execution = block_execution

    @property
    def result(self) -> tuple | None:
        return self.args if self.args else None

    @classmethod
    def from_dict(cls, data: dict) -> NodeOutput:
        result = data.get("result", ())
        if isinstance(result, ExecutionBlocker):
            return cls(block_execution=result.message)
        return cls(*(result or ()), ui=data.get("ui"), expand=data.get("expand"))

    def __getitem__(self, index: int) -> Any:
        return self.args[index]


class ComfyNode:
    """The base of V3 nodes: override ``define_schema`` and ``execute`` (classmethods).

    Optional classmethods: ``validate_inputs`` (True or an error message; as V1's
    ``VALIDATE_INPUTS``), ``fingerprint_inputs`` (as ``IS_CHANGED``) and
    ``check_lazy_status`` (which lazy inputs to compute; by default all of them).
    During ``execute``, ``cls.hidden`` holds the hidden inputs the schema asked for.
    """

    hidden = _CallsHidden()

    @classmethod
    def define_schema(cls) -> Schema:
        raise NotImplementedError(f"{cls.__name__} defines no define_schema()")

    @classmethod
    def execute(cls, **kwargs) -> NodeOutput:
        raise NotImplementedError(f"{cls.__name__} defines no execute()")

    @classmethod
    def validate_inputs(cls, **kwargs) -> bool | str:
        raise NotImplementedError

    @classmethod
    def fingerprint_inputs(cls, **kwargs) -> Any:
        raise NotImplementedError

    @classmethod
    def check_lazy_status(cls, **kwargs) -> list[str]:
        return [name for name, value in kwargs.items() if value is None]


def overrides(cls: type, name: str) -> bool:
    """Whether ``cls`` defines ``name`` itself, not just inherits ``ComfyNode``'s."""
    return getattr(cls, name).__func__ is not getattr(ComfyNode, name).__func__
