"""The node registry: node type name → class, with what the engine needs of each.

Classes follow ComfyUI's V1 API (``INPUT_TYPES``, ``RETURN_TYPES``, ``FUNCTION``,
...); ``@node`` functions are turned into such classes. Registering under an
existing name replaces the type: the new class has a new code fingerprint, so
the cache reruns nodes of that type and what depends on them.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from .fingerprint import code_fingerprint, global_references, globals_fingerprint
from .nodedef import node_class_of
from .nodespec import NodeSpec


@dataclass(frozen=True)
class NodeType:
    """A registered node type: its class's outputs and flags, read once when it is registered.

    Its inputs are in its ``spec()`` (``nodespec.py``).
    """

    name: str
    cls: type
    display_name: str
    code: str  # fingerprint of the class's code
    is_output: bool
    is_async: bool  # FUNCTION is a coroutine function
    input_is_list: bool
    output_is_list: tuple[bool, ...]
    return_types: tuple
    not_idempotent: bool
    global_refs: tuple = ()  # (module globals, names) its code reads: see fingerprint.py
    return_names: tuple = ()
    output_tooltips: tuple = ()
    category: str = ""
    description: str = ""
    python_module: str = ""
    deprecated: bool = False
    experimental: bool = False
    # The last spec parsed: a holder, so that a frozen NodeType can cache it.
    _spec: list = field(default_factory=lambda: [None], compare=False, repr=False)
    registry: NodeRegistry | None = field(default=None, compare=False, repr=False)

    def globals_fingerprint(self) -> str:
        """The current values of the globals its code reads (changes rerun its nodes)."""
        return globals_fingerprint(self.global_refs) if self.global_refs else ""

    def input_types(self) -> dict:
        """``INPUT_TYPES()``, which may be dynamic (e.g. the files in a folder)."""
        with self.registry.scope() if self.registry is not None else contextlib.nullcontext():
            spec = self.cls.INPUT_TYPES()
        if not isinstance(spec, dict):
            raise TypeError(f"{self.name}.INPUT_TYPES() returned {type(spec).__name__}, not a dict")
        return spec

    def spec(self) -> NodeSpec:
        """Its inputs as they are now: ``INPUT_TYPES()`` called, parsed only if it changed."""
        raw = self.input_types()
        known = self._spec[0]
        if known is not None and known.same_inputs_as(raw):
            return known
        spec = self._spec[0] = NodeSpec.parse(self, raw)
        return spec


class NodeRegistry:
    """Node types by name. Thread-safe; shared by executors and editors.

    ``context``: a function returning a context manager that node code runs in:
    every ``INPUT_TYPES()`` call and every run of an executor over this registry
    (a session's folders: ``nodes.folders.using``). None: no context.
    """

    def __init__(self, context: Callable[[], AbstractContextManager] | None = None):
        self._types: dict[str, NodeType] = {}
        self._lock = threading.Lock()
        self.generation = 0  # bumped on every change, so views can tell they are stale
        self.context = context

    def scope(self) -> AbstractContextManager:
        """The context node code of this registry runs in (see the class docstring)."""
        return self.context() if self.context is not None else contextlib.nullcontext()

    def register(self, obj: Any = None, name: str | None = None, display_name: str | None = None):
        """Register a V1 class or a (``@node``) function; usable as a decorator.

        Returns ``obj`` unchanged, so a decorated function stays callable.
        """
        if obj is None:
            return lambda o: self.register(o, name=name, display_name=display_name)
        if isinstance(obj, type):
            cls = obj
        elif callable(obj):
            cls = node_class_of(obj)
        else:
            raise TypeError(f"cannot register {obj!r}: expected a node class or function")
        name = name or getattr(cls, "NODE_NAME", None) or cls.__name__
        node_type = _describe(name, cls, display_name, self)
        with self._lock:
            self._types[name] = node_type
            self.generation += 1
        return obj

    def load_mappings(
        self,
        class_mappings: Mapping[str, type],
        display_name_mappings: Mapping[str, str] | None = None,
    ) -> None:
        """Register a ComfyUI pack's ``NODE_CLASS_MAPPINGS`` (and display names)."""
        display_name_mappings = display_name_mappings or {}
        for name, cls in class_mappings.items():
            self.register(cls, name=name, display_name=display_name_mappings.get(name))

    def unregister(self, name: str) -> None:
        with self._lock:
            if self._types.pop(name, None) is not None:
                self.generation += 1

    def get(self, name: Any) -> NodeType | None:
        return self._types.get(name) if isinstance(name, str) else None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._types

    def __iter__(self):
        return iter(list(self._types))

    def __len__(self) -> int:
        return len(self._types)

    def object_info(self, name: str | None = None) -> dict[str, dict]:
        """The node specs, shaped like ComfyUI's ``/object_info`` (JSON-ready)."""
        names = [name] if name is not None else sorted(self._types)
        return {n: _object_info(self._types[n]) for n in names if n in self._types}


def _describe(
    name: str, cls: type, display_name: str | None, registry: NodeRegistry | None = None
) -> NodeType:
    for attribute in ("INPUT_TYPES", "RETURN_TYPES", "FUNCTION"):
        if not hasattr(cls, attribute):
            raise TypeError(f"node class {cls.__name__!r} has no {attribute}")
    function = getattr(cls, cls.FUNCTION, None)
    if not callable(function):
        raise TypeError(
            f"node class {cls.__name__!r} has no method {cls.FUNCTION!r} (its FUNCTION)"
        )
    return_types = tuple(cls.RETURN_TYPES)
    output_is_list = tuple(getattr(cls, "OUTPUT_IS_LIST", None) or (False,) * len(return_types))
    return_names = tuple(getattr(cls, "RETURN_NAMES", None) or return_types)
    return NodeType(
        name=name,
        cls=cls,
        display_name=display_name or getattr(cls, "DISPLAY_NAME", None) or name,
        code=getattr(cls, "__node_code__", None) or code_fingerprint(cls),
        is_output=getattr(cls, "OUTPUT_NODE", False) is True,
        is_async=inspect.iscoroutinefunction(function),
        input_is_list=bool(getattr(cls, "INPUT_IS_LIST", False)),
        output_is_list=output_is_list,
        return_types=return_types,
        not_idempotent=bool(getattr(cls, "NOT_IDEMPOTENT", False)),
        global_refs=tuple(global_references(getattr(cls, "__wrapped__", None) or cls)),
        return_names=tuple(str(n) for n in return_names),
        output_tooltips=tuple(getattr(cls, "OUTPUT_TOOLTIPS", None) or ()),
        category=getattr(cls, "CATEGORY", "") or "",
        description=getattr(cls, "DESCRIPTION", "") or "",
        python_module=getattr(cls, "RELATIVE_PYTHON_MODULE", None) or cls.__module__,
        deprecated=bool(getattr(cls, "DEPRECATED", False)),
        experimental=bool(getattr(cls, "EXPERIMENTAL", False)),
        registry=registry,
    )


def _object_info(t: NodeType) -> dict:
    try:
        raw = t.spec().raw
    except Exception as exc:  # a broken node must not break the palette
        raw = {"required": {}, "error": f"{type(exc).__name__}: {exc}"}
    return {
        "input": _jsonable(raw),
        "input_order": {k: list(v) for k, v in raw.items() if isinstance(v, dict)},
        "output": _jsonable(list(t.return_types)),
        "output_is_list": list(t.output_is_list),
        "output_name": _jsonable(list(t.return_names)),
        "output_tooltips": _jsonable(list(t.output_tooltips)),
        "name": t.name,
        "display_name": t.display_name,
        "description": t.description,
        "python_module": t.python_module,
        "category": t.category,
        "output_node": t.is_output,
        "deprecated": t.deprecated,
        "experimental": t.experimental,
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, Callable):
        return None
    return str(value)
