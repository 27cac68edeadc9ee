"""``@node``: a plain (sync or async) Python function as a node type.

Type hints become the node's spec, the ComfyUI V1 class API is generated from
it, and the function stays callable as it was::

    @node(category="math")
    def add(a: int, b: Annotated[int, Range(0, 10)] = 1) -> int:
        return a + b

Inputs: ``int`` → INT, ``float`` → FLOAT, ``str`` → STRING, ``bool`` → BOOLEAN,
``Literal[...]`` → a COMBO, ``Annotated[T, IOType("IMAGE")]`` (or the aliases
``Image``, ``Mask``, ``Latent``, ``Tensor``) → that type, another class → its
name in capitals, no hint or ``Any`` → ``"*"``. A default becomes the widget
default; ``T | None = None`` makes the input optional; ``Range`` and ``Input``
add options (min/max/step, lazy, tooltip, multiline...); ``Hidden("UNIQUE_ID")``
asks for a hidden input.

Outputs: ``-> T`` is one output, ``-> tuple[A, B]`` (or a NamedTuple class) are
several, ``-> None`` none. Return ``NodeOutput(...)`` to add a ``ui`` dict or
an ``expand`` subgraph.

What a function returns is checked against its declared output types
(``engine.iotypes``: an IMAGE is a float tensor ``[B, H, W, C]``, an INT an int...;
other types are not checked): a wrong value raises ``OutputTypeError`` naming
the node that returned it, so the run's error is that node's, not the one
downstream that could not use the value. An ``ExecutionBlocker`` passes, and so
do the values of an ``expand`` result (links into the subgraph).
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal

from . import iotypes, progress
from .fingerprint import code_fingerprint, digest, fingerprint
from .graph import ExecutionBlocker


@dataclasses.dataclass(frozen=True)
class IOType:
    """Marks a hint as the node type ``name`` (e.g. ``Annotated[Tensor, IOType("IMAGE")]``)."""

    name: str


@dataclasses.dataclass(frozen=True)
class Range:
    """Widget bounds for an INT or FLOAT input."""

    min: float | None = None
    max: float | None = None
    step: float | None = None

    def options(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


class Input:
    """Extra input options, as in ComfyUI's spec: ``Input(lazy=True, tooltip="...")``."""

    def __init__(self, **options: Any):
        self._options = options

    def options(self) -> dict:
        return dict(self._options)


@dataclasses.dataclass(frozen=True)
class Hidden:
    """A hidden input: ``UNIQUE_ID``, ``PROMPT``, ``DYNPROMPT`` or ``EXTRA_PNGINFO``."""

    kind: str


Image = Annotated[Any, IOType("IMAGE")]
Mask = Annotated[Any, IOType("MASK")]
Latent = Annotated[Any, IOType("LATENT")]
Tensor = Annotated[Any, IOType("TENSOR")]


class NodeOutput:
    """What a function node returns to add UI output or a subgraph to its values."""

    def __init__(self, *values: Any, ui: dict | None = None, expand: dict | None = None):
        self.values = values
        self.ui = ui
        self.expand = expand


_SCALARS = {int: "INT", float: "FLOAT", str: "STRING", bool: "BOOLEAN"}


class NodeSpecError(TypeError):
    """A ``@node`` function whose signature cannot become a node spec."""


class OutputTypeError(TypeError):
    """A ``@node`` function returned a value that is not of its declared output type."""


def node(
    fn: Callable | None = None,
    *,
    name: str | None = None,
    display_name: str | None = None,
    category: str = "",
    description: str | None = None,
    output: bool = False,
    returns: tuple[str, ...] | None = None,
    not_idempotent: bool = False,
):
    """Turn a function into a node type (usable bare, ``@node``, or with options)."""

    def wrap(fn: Callable) -> Callable:
        fn.__node_class__ = _node_class(
            fn,
            name=name or fn.__name__,
            display_name=display_name,
            category=category,
            description=description,
            output=output,
            returns=returns,
            not_idempotent=not_idempotent,
        )
        return fn

    return wrap if fn is None else wrap(fn)


def node_class_of(fn: Callable) -> type:
    """The V1 class of a ``@node`` function (decorating it with defaults if it is not)."""
    cls = getattr(fn, "__node_class__", None)
    if cls is None:
        node(fn)
        cls = fn.__node_class__
    return cls


def _node_class(fn, *, name, display_name, category, description, output, returns, not_idempotent):
    hints = typing.get_type_hints(fn, include_extras=True)
    signature = inspect.signature(fn)
    inputs: dict[str, dict] = {"required": {}, "optional": {}, "hidden": {}}
    for param in signature.parameters.values():
        if param.kind is param.VAR_KEYWORD:
            continue
        if param.kind in (param.VAR_POSITIONAL, param.POSITIONAL_ONLY):
            raise NodeSpecError(
                f"node {name!r}: parameter {param.name!r} must be passable by keyword"
            )
        category_name, spec = _input_spec(name, param, hints.get(param.name, Any))
        inputs[category_name][param.name] = spec

    return_hint = hints.get("return", inspect.Signature.empty)
    return_types, return_names = _output_spec(return_hint, output)
    if returns is not None:
        if len(returns) != len(return_types):
            raise NodeSpecError(
                f"node {name!r}: {len(returns)} names for {len(return_types)} outputs"
            )
        return_names = tuple(returns)
    spec = {k: v for k, v in inputs.items() if v}
    outputs = len(return_types)
    # (slot, check) of the outputs whose type has a check: the hot path loops over these only.
    checks = tuple(
        (slot, check)
        for slot, check in enumerate(map(iotypes.checker, return_types))
        if check is not None
    )
    declared = (name, return_types, return_names)

    if inspect.iscoroutinefunction(fn):

        async def run(**kwargs):
            return _checked(_pack(await fn(**kwargs), outputs), checks, declared)
    else:

        def run(**kwargs):
            return _checked(_pack(fn(**kwargs), outputs), checks, declared)

    attributes = {
        "INPUT_TYPES": classmethod(lambda cls: spec),
        "RETURN_TYPES": return_types,
        "RETURN_NAMES": return_names,
        "FUNCTION": "run",
        "CATEGORY": category,
        "OUTPUT_NODE": output,
        "DESCRIPTION": description if description is not None else inspect.getdoc(fn) or "",
        "NOT_IDEMPOTENT": not_idempotent,
        "run": staticmethod(run),
        "__module__": getattr(fn, "__module__", __name__),
        "__doc__": fn.__doc__,
        "__wrapped__": fn,
        "__node_code__": digest(
            code_fingerprint(fn) + fingerprint([name, category, output, not_idempotent])
        ),
    }
    if display_name:
        attributes["DISPLAY_NAME"] = display_name
    return type(name, (), attributes)


def _pack(result: Any, outputs: int):
    if isinstance(result, NodeOutput):
        packed: dict = {"result": result.values}
        if result.ui is not None:
            packed["ui"] = result.ui
        if result.expand is not None:
            packed["expand"] = result.expand
        return packed
    if isinstance(result, ExecutionBlocker):
        return result
    if outputs == 1:
        return (result,)
    if outputs == 0:
        return ()
    if not isinstance(result, tuple) or len(result) != outputs:
        raise TypeError(f"expected a tuple of {outputs} values, got {type(result).__name__}")
    return result


def _checked(packed: Any, checks: tuple, declared: tuple) -> Any:
    """``packed`` if each value passes its output type's check; else ``OutputTypeError``."""
    if not checks:
        return packed
    if type(packed) is tuple:
        values = packed
    elif isinstance(packed, dict) and "expand" not in packed:
        values = packed["result"]
    else:  # a blocker, or an expansion whose values link into its subgraph
        return packed
    for slot, check in checks:
        if slot < len(values) and not check(values[slot]):
            _refuse(declared, slot, values[slot])
    return packed


def _refuse(declared: tuple, slot: int, value: Any) -> None:
    """Raise ``OutputTypeError`` for ``value`` at ``slot`` (a blocker stands for any type)."""
    if isinstance(value, ExecutionBlocker):
        return
    name, return_types, return_names = declared
    node_id = progress.current_node()
    who = f"node {node_id} ({name})" if node_id is not None else f"node {name}"
    raise OutputTypeError(
        f"{who} returned {iotypes.describe(value)} as output {slot} {return_names[slot]!r}; "
        f"{iotypes.value_problem(return_types[slot], value)}"
    )


def _input_spec(node_name: str, param: inspect.Parameter, hint: Any) -> tuple[str, tuple]:
    options: dict = {}
    io_type: Any = None
    optional = False
    if typing.get_origin(hint) is Annotated:
        hint, *markers = typing.get_args(hint)
        for marker in markers:
            if isinstance(marker, IOType):
                io_type = marker.name
            elif isinstance(marker, (Range, Input)):
                options.update(marker.options())
            elif isinstance(marker, Hidden):
                return "hidden", marker.kind
    if _is_optional(hint):
        optional = True
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
        if typing.get_origin(hint) is Annotated:
            return _input_spec(node_name, param.replace(annotation=hint), hint)
    if io_type is None:
        io_type = _type_name(hint)
    if param.default is not inspect.Parameter.empty:
        if param.default is None:
            optional = True
        else:
            options.setdefault("default", param.default)
    spec = (io_type, options) if options else (io_type,)
    return ("optional" if optional else "required"), spec


def _is_optional(hint: Any) -> bool:
    origin = typing.get_origin(hint)
    return origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)


def _type_name(hint: Any) -> Any:
    if hint is Any or hint is inspect.Parameter.empty:
        return "*"
    if typing.get_origin(hint) is Annotated:
        for marker in typing.get_args(hint)[1:]:
            if isinstance(marker, IOType):
                return marker.name
        hint = typing.get_args(hint)[0]
    if typing.get_origin(hint) is Literal:
        return list(typing.get_args(hint))
    if hint in _SCALARS:
        return _SCALARS[hint]
    if isinstance(hint, str):
        return hint
    if isinstance(hint, type):
        return hint.__name__.upper()
    return "*"


def _output_spec(hint: Any, output: bool) -> tuple[tuple, tuple]:
    if hint is inspect.Signature.empty:
        return ((), ()) if output else (("*",), ("*",))
    if hint is None or hint is type(None):
        return (), ()
    if isinstance(hint, type) and issubclass(hint, tuple) and hasattr(hint, "_fields"):
        field_hints = typing.get_type_hints(hint, include_extras=True)
        types_ = tuple(_type_name(field_hints.get(f, Any)) for f in hint._fields)
        return types_, tuple(hint._fields)
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        if args and args[-1] is not Ellipsis:
            types_ = tuple(_type_name(a) for a in args)
            return types_, tuple(str(t) for t in types_)
    single = _type_name(hint)
    return (single,), (str(single),)
