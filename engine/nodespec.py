"""One digest of a node's inputs: its ``INPUT_TYPES()`` read once into a typed ``NodeSpec``.

Validation, the executor, ``object_info``, the graph builder, the workflow
converter and the editor all read this digest; none reads the raw dictionary.
A class's outputs and flags (``RETURN_TYPES``, ``OUTPUT_NODE``...) are read once,
when it is registered, into its ``NodeType`` (``registry.py``), which a
``NodeSpec`` points to.

``INPUT_TYPES()`` may change between calls (a combo listing the files of a
folder): ``NodeType.spec()`` calls it every time and parses it again only when
it returned something different.

Kinds. An input is a *widget* (a constant the editor shows and edits: INT,
FLOAT, STRING, BOOLEAN, or a COMBO of choices; or any type whose options name
one of those as ``widgetType``, as V3's MultiType does) unless its options force
a socket (``forceInput``); any other type (IMAGE, MODEL, ``"*"``, a pack's own
type) is a *link*. Widgets can be linked too, and links can take constants
in a prompt written by hand or by code; the kind says what the editor shows.
*Hidden* inputs are not shown: the engine fills ``UNIQUE_ID``, ``PROMPT``,
``DYNPROMPT`` and ``EXTRA_PNGINFO``; any other hidden input takes the prompt's value.

Control after generate (ComfyUI's seed widget). An INT widget named ``seed`` or
``noise_seed``, or whose options set ``control_after_generate``, has a seed
policy (``engine.seeds``): ``InputSpec.control`` is true. In a UI workflow
such an input carries one extra value after its own in ``widgets_values``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .registry import NodeType

__all__ = ["NO_DEFAULT", "InputSpec", "NodeSpec", "parse_inputs"]

WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})
SEED_NAMES = frozenset({"seed", "noise_seed"})
# Hidden inputs the engine fills in; any other hidden input gets the prompt's value.
ENGINE_HIDDEN = ("UNIQUE_ID", "PROMPT", "DYNPROMPT", "EXTRA_PNGINFO")


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()


@dataclass(frozen=True, slots=True)
class InputSpec:
    """One input: ``type`` as declared (a type name, or a list of choices for a COMBO)."""

    name: str
    type: Any
    section: str  # "required" | "optional" | "hidden"
    options: Mapping[str, Any]
    kind: str  # "widget" | "link" | "hidden"
    control: bool = False  # has control after generate (a seed policy)

    @property
    def required(self) -> bool:
        return self.section == "required"

    @property
    def choices(self) -> list | None:
        """A COMBO's choices (``[...]`` as the type, or V3's ``("COMBO", {"options": [...]})``)."""
        if isinstance(self.type, list):
            return self.type
        if self.type == "COMBO":
            return list(self.options.get("options", []))
        return None

    @property
    def default(self) -> Any:
        return self.options.get("default", NO_DEFAULT)

    @property
    def lazy(self) -> bool:
        return bool(self.options.get("lazy"))

    @property
    def raw_link(self) -> bool:
        return bool(self.options.get("rawLink"))

    @property
    def tooltip(self) -> str:
        return str(self.options.get("tooltip") or "")

    @property
    def config(self) -> list:
        """``[type, options]``: how ComfyUI's errors show the input (``input_config``)."""
        return [self.type, dict(self.options)]

    def type_text(self) -> str:
        choices = self.choices
        if choices is not None:
            more = " ..." if len(choices) > 10 else ""
            return "one of " + ", ".join(map(repr, choices[:10])) + more
        return str(self.type)


@dataclass(frozen=True, eq=False)
class NodeSpec:
    """A node type's inputs, parsed from one ``INPUT_TYPES()`` result (see the module docstring)."""

    node_type: NodeType
    raw: dict  # the INPUT_TYPES() result it was parsed from (a copy of its two top levels)
    inputs: tuple[InputSpec, ...]  # required, then optional, in declared order
    hidden: tuple[InputSpec, ...]
    by_name: dict[str, InputSpec] = field(repr=False)  # every input, hidden ones included
    # Derived once, for the hot paths:
    declared: frozenset[str] = field(repr=False)  # inputs a prompt may set (not engine-filled)
    lazy: frozenset[str] = field(repr=False)
    raw_links: frozenset[str] = field(repr=False)
    defaults: dict[str, Any] = field(repr=False)  # optional inputs with a default
    engine_hidden: dict[str, str] = field(repr=False)  # hidden input -> what the engine fills in
    validate: Callable | None = field(repr=False)  # VALIDATE_INPUTS
    validate_args: tuple[str, ...] = field(repr=False)
    validate_kwargs: bool = field(repr=False)

    @classmethod
    def parse(cls, node_type: NodeType, raw: dict) -> NodeSpec:
        inputs, hidden = parse_inputs(raw)
        by_name = {i.name: i for i in (*inputs, *hidden)}
        engine_hidden = {
            i.name: i.type for i in hidden if isinstance(i.type, str) and i.type in ENGINE_HIDDEN
        }
        validate = getattr(node_type.cls, "VALIDATE_INPUTS", None)
        args: tuple[str, ...] = ()
        kwargs = False
        if validate is not None:
            argspec = inspect.getfullargspec(validate)
            args = tuple(argspec.args + argspec.kwonlyargs)
            kwargs = argspec.varkw is not None
        return cls(
            node_type=node_type,
            raw={k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()},
            inputs=inputs,
            hidden=hidden,
            by_name=by_name,
            declared=frozenset(n for n in by_name if n not in engine_hidden),
            lazy=frozenset(i.name for i in inputs if i.lazy),
            raw_links=frozenset(i.name for i in inputs if i.raw_link),
            defaults={
                i.name: i.default
                for i in inputs
                if i.section == "optional" and i.default is not NO_DEFAULT
            },
            engine_hidden=engine_hidden,
            validate=validate,
            validate_args=args,
            validate_kwargs=kwargs,
        )

    @property
    def name(self) -> str:
        return self.node_type.name

    def input(self, name: str) -> InputSpec | None:
        return self.by_name.get(name)

    @property
    def widgets(self) -> tuple[InputSpec, ...]:
        """The widget inputs, in the order an editor creates their widgets."""
        return tuple(i for i in self.inputs if i.kind == "widget")

    @property
    def controlled(self) -> tuple[str, ...]:
        """The inputs with control after generate (seed policies)."""
        return tuple(i.name for i in self.inputs if i.control)

    def same_inputs_as(self, raw: dict) -> bool:
        """True if this spec was parsed from an ``INPUT_TYPES()`` result equal to ``raw``."""
        try:
            return bool(raw == self.raw)
        except Exception:  # an option whose == is not a bool
            return False


def parse_inputs(raw: dict) -> tuple[tuple[InputSpec, ...], tuple[InputSpec, ...]]:
    """(required and optional inputs, hidden inputs) of an ``INPUT_TYPES()`` dict."""
    inputs: list[InputSpec] = []
    hidden: list[InputSpec] = []
    seen: set[str] = set()
    for section in ("required", "optional", "hidden"):
        entries = raw.get(section) or {}
        if not isinstance(entries, Mapping):
            raise TypeError(f"INPUT_TYPES()[{section!r}] is a {type(entries).__name__}, not a dict")
        for name, entry in entries.items():
            if name in seen:  # ComfyUI reads the first section that names it
                continue
            seen.add(name)
            if section == "hidden":
                kind = entry[0] if isinstance(entry, (tuple, list)) and entry else entry
                hidden.append(InputSpec(name, kind, section, {}, "hidden"))
                continue
            inputs.append(_input(name, entry, section))
    return tuple(inputs), tuple(hidden)


def _input(name: str, entry: Any, section: str) -> InputSpec:
    if isinstance(entry, (tuple, list)) and entry:
        input_type = entry[0]
        options = entry[1] if len(entry) > 1 and isinstance(entry[1], Mapping) else {}
    else:
        input_type, options = entry, {}
    widget_type = "COMBO" if isinstance(input_type, list) else input_type
    if options.get("widgetType") in WIDGET_TYPES:  # V3's MultiType with a widget: "INT,FLOAT"
        widget_type = options["widgetType"]
    widget = (
        isinstance(widget_type, str)
        and type(widget_type) is str  # a pack's str subclass ("any type") is a socket
        and widget_type in WIDGET_TYPES
        and not options.get("forceInput")
    )
    control = (
        widget
        and widget_type in ("INT", "COMBO")
        and bool(
            options.get("control_after_generate") or (widget_type == "INT" and name in SEED_NAMES)
        )
    )
    return InputSpec(name, input_type, section, options, "widget" if widget else "link", control)
