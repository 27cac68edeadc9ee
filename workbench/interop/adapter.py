"""V3 nodes in the engine's V1 registry: ``v1_class(cls)`` makes a V1 class of an ``io.ComfyNode``.

The registry, validation, the ``NodeSpec``, ``object_info`` and the executor
know one node API, ComfyUI's V1 (``INPUT_TYPES``, ``RETURN_TYPES``,
``FUNCTION``...). A V3 node declares the same things in its schema; the class
made here states them the V1 way and calls the V3 class (its ``__wrapped__``,
whose code is the node's code fingerprint):

- ``INPUT_TYPES()`` calls ``define_schema()`` each time (a combo listing the
  files of a folder stays current) and writes each input as its V1 entry;
  dynamic inputs are spelled out as flat inputs (``engine.dynamic``); hidden
  inputs get the names of their ``io.Hidden`` members.
- ``RETURN_TYPES``, ``RETURN_NAMES``, ``OUTPUT_IS_LIST``, ``OUTPUT_NODE``,
  ``CATEGORY``... come from the schema, read once when the class is made.
- ``FUNCTION`` calls ``execute`` with ``cls.hidden`` holding the hidden inputs
  (``v3_node.hidden_inputs``; ComfyUI's ``cls.hidden.unique_id``) and dynamic
  inputs nested back into dicts, and turns the ``NodeOutput`` into a V1
  result: the values, ``{"result", "ui", "expand"}``, or an
  ``ExecutionBlocker`` for ``block_execution``.
- ``check_lazy_status`` goes to the V3 one (without the hidden inputs), for a
  node with lazy inputs (for others it could ask for nothing);
  ``fingerprint_inputs`` becomes ``IS_CHANGED`` and ``validate_inputs``
  ``VALIDATE_INPUTS``, only when the node defines them.
"""

from __future__ import annotations

import inspect
from typing import Any

from engine import ExecutionBlocker
from engine.dynamic import Nesting, autogrow, dynamic_combo
from engine.fingerprint import code_fingerprint

from .comfy_io import Autogrow, DynamicCombo, DynamicInput, Input
from .v3_node import (
    ComfyNode,
    Hidden,
    HiddenHolder,
    NodeOutput,
    Schema,
    hidden_inputs,
    overrides,
)


class SchemaError(TypeError):
    """A V3 node whose schema the workbench cannot use; the message names the node and why."""


def is_v3(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, ComfyNode)


def schema_of(cls: type) -> Schema:
    """``cls.define_schema()``, finalized and checked."""
    schema = cls.define_schema()
    if not isinstance(schema, Schema):
        raise SchemaError(
            f"{cls.__name__}.define_schema() returned {type(schema).__name__}, not io.Schema"
        )
    schema.finalize()
    for kind, items in (("input", schema.inputs), ("output", schema.outputs)):
        ids = [item.id for item in items]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise SchemaError(f"node {schema.node_id!r}: {kind} ids {repeated} are not unique")
    return schema


def input_types(schema: Schema) -> dict:
    """The V1 ``INPUT_TYPES()`` dict of ``schema`` (see the module docstring)."""
    required: dict[str, tuple] = {}
    optional: dict[str, tuple] = {}
    for declared in schema.inputs:
        if not isinstance(declared, Input):
            raise SchemaError(f"node {schema.node_id!r}: {declared!r} is not an io input")
        sections = _sections(schema, declared)
        required.update(sections.get("required", {}))
        optional.update(sections.get("optional", {}))
    result: dict[str, dict] = {"required": required}
    if optional:
        result["optional"] = optional
    hidden: dict[str, tuple] = {}
    for value in schema.hidden:
        member = _hidden(schema, value)
        name = (
            member.name
            if member.name not in required and member.name not in optional
            else (
                f"{member.name}.hidden"  # an input has this name: ComfyUI keeps the two apart too
            )
        )
        hidden[name] = (member.value,)
    if hidden:
        result["hidden"] = hidden
    return result


def _sections(schema: Schema, declared: Input) -> dict[str, dict[str, tuple]]:
    if isinstance(declared, Autogrow.Input):
        template = declared.template
        entry = (template.input.v1_type(), template.input.v1_options())
        optional = declared.optional or template.input.optional
        return autogrow(
            declared.id,
            entry,
            template.names,
            required=0 if optional else template.min,
            tooltip=declared.tooltip,
        )
    if isinstance(declared, DynamicCombo.Input):
        options: dict[str, dict[str, tuple]] = {}
        for option in declared.options:
            for inner in option.inputs:
                if isinstance(inner, DynamicInput):
                    raise SchemaError(
                        f"node {schema.node_id!r}, input {declared.id!r}: a dynamic input inside "
                        "a DynamicCombo option is not supported"
                    )
            options[option.key] = {i.id: (i.v1_type(), i.v1_options()) for i in option.inputs}
        return dynamic_combo(
            declared.id, options, declared.v1_options(), required=not declared.optional
        )
    if isinstance(declared, DynamicInput):
        raise SchemaError(
            f"node {schema.node_id!r}, input {declared.id!r}: {type(declared).__qualname__} "
            "is not supported"
        )
    section = "optional" if declared.optional else "required"
    return {section: {declared.id: (declared.v1_type(), declared.v1_options())}}


def _hidden(schema: Schema, value: Any) -> Hidden:
    if isinstance(value, Hidden):
        return value
    for member in Hidden:
        if value in (member.value, member.name):
            return member
    raise SchemaError(f"node {schema.node_id!r}: unknown hidden input {value!r}")


def notes_of(schema: Schema) -> list[str]:
    """What of ``schema`` the workbench does not honour, in words."""
    notes = []
    if schema.accept_all_inputs:
        notes.append(
            f"{schema.node_id}: accept_all_inputs is not supported (it gets its declared inputs only)"
        )
    return notes


def v1_class(cls: type) -> type:
    """A V1 node class for the V3 node ``cls`` (see the module docstring)."""
    schema = schema_of(cls)
    first = input_types(schema)
    nesting = Nesting(first)
    hidden_names = {name: name.split(".")[0] for name in first.get("hidden", {})}
    has_lazy = any(
        entry[1].get("lazy") for section in ("required", "optional")
        for entry in first.get(section, {}).values()
    )  # fmt: skip
    node_id = schema.node_id

    def split(kwargs: dict) -> tuple[HiddenHolder, dict]:
        hidden = {hidden_names[n]: kwargs.pop(n) for n in list(kwargs) if n in hidden_names}
        return HiddenHolder(hidden), nesting.nest(kwargs) if nesting else kwargs

    def execute(self, **kwargs):
        hidden, kwargs = split(kwargs)
        with hidden_inputs(hidden):
            return _v1_result(schema, cls.execute(**kwargs))

    async def execute_async(self, **kwargs):
        hidden, kwargs = split(kwargs)
        with hidden_inputs(hidden):  # this task's context: concurrent calls keep theirs
            return _v1_result(schema, await cls.execute(**kwargs))

    def check_lazy_status(self, **kwargs):
        hidden, kwargs = split(kwargs)
        with hidden_inputs(hidden):
            return cls.check_lazy_status(**kwargs)

    attrs: dict[str, Any] = {
        "INPUT_TYPES": classmethod(lambda adapted: input_types(schema_of(cls))),
        "RETURN_TYPES": tuple(o.v1_type() for o in schema.outputs),
        "RETURN_NAMES": tuple(o.display_name or _type_name(o.v1_type()) for o in schema.outputs),
        "OUTPUT_IS_LIST": tuple(bool(o.is_output_list) for o in schema.outputs),
        "OUTPUT_TOOLTIPS": tuple(o.tooltip for o in schema.outputs),
        "OUTPUT_NODE": bool(schema.is_output_node),
        "INPUT_IS_LIST": bool(schema.is_input_list),
        "NOT_IDEMPOTENT": bool(schema.not_idempotent),
        "CATEGORY": schema.category,
        "DESCRIPTION": schema.description or "",
        "DISPLAY_NAME": schema.display_name or node_id,
        "DEPRECATED": bool(schema.is_deprecated),
        "EXPERIMENTAL": bool(schema.is_experimental),
        "FUNCTION": "execute_v3",
        "execute_v3": execute_async if inspect.iscoroutinefunction(cls.execute) else execute,
        "V3_NODE_ID": node_id,
        "V3_NOTES": tuple(notes_of(schema)),
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
        "__doc__": cls.__doc__,
        "__wrapped__": cls,  # the registry reads the globals its code uses from here
        "__node_code__": code_fingerprint(cls),
    }
    if has_lazy:
        attrs["check_lazy_status"] = check_lazy_status
    if overrides(cls, "fingerprint_inputs"):
        fingerprint = cls.fingerprint_inputs

        def is_changed(adapted, **kwargs):
            return fingerprint(**_accepted(fingerprint, split(kwargs)[1]))

        attrs["IS_CHANGED"] = classmethod(is_changed)
    if overrides(cls, "validate_inputs"):
        # The V3 method itself: validation reads its parameters to pick what to pass.
        attrs["VALIDATE_INPUTS"] = cls.validate_inputs
    return type(cls.__name__, (), attrs)


def _type_name(v1_type: Any) -> str:
    return v1_type if isinstance(v1_type, str) else "COMBO"


def _accepted(function, kwargs: dict) -> dict:
    """Only the keyword arguments ``function`` takes."""
    parameters = inspect.signature(function).parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return kwargs
    return {k: v for k, v in kwargs.items() if k in parameters}


def _v1_result(schema: Schema, returned: Any) -> Any:
    """A V1 node result for what ``execute`` returned (see the module docstring)."""
    if isinstance(returned, ExecutionBlocker):
        return returned
    if returned is None:
        returned = NodeOutput()
    elif isinstance(returned, tuple):
        returned = NodeOutput(*returned)
    elif isinstance(returned, dict):
        returned = NodeOutput.from_dict(returned)
    elif not isinstance(returned, NodeOutput):
        raise TypeError(
            f"{schema.node_id}.execute() returned {type(returned).__name__}; expected io.NodeOutput"
        )
    if returned.block_execution is not None:
        return ExecutionBlocker(returned.block_execution)
    if returned.expand is not None and not schema.enable_expand:
        raise TypeError(
            f"{schema.node_id}.execute() returned a graph to expand, but its schema does not "
            "set enable_expand=True"
        )
    values = tuple(returned.args)
    ui = returned.ui.as_dict() if hasattr(returned.ui, "as_dict") else returned.ui
    if not ui and returned.expand is None:
        return values
    result: dict[str, Any] = {"result": values}
    if ui:
        result["ui"] = dict(ui)
    if returned.expand is not None:
        result["expand"] = returned.expand
    return result
