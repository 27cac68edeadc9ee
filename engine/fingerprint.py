"""Content fingerprints: of constant values, and of the code of node types.

A fingerprint is a string that is equal for equal content and (with
overwhelming probability) different otherwise. It never uses ``id()``: a value
re-created with the same content keeps its fingerprint, so the cache survives
re-running the cell that made it.

Values: JSON-like values by their ``repr`` (exact for str/int/float/bool/None),
containers element-wise, tensors and numpy arrays by dtype, shape and a hash of
their bytes, dataclasses by field, and any type a caller registers with
``register_fingerprint``. An unknown object has no stable content; it gets a
fresh random fingerprint, which means "always changed" (the node reruns) rather
than a wrong cache hit.

Code: a node's code fingerprint hashes the bytecode, constants and names of its
functions (nested functions included) and the class attributes that shape it.
The immutable globals and the same-module functions its code reads are
fingerprinted separately, at every run (``globals_fingerprint``): a constant
changed in another cell, or a helper function redefined, reruns the node.
Blind spots: imported modules (a library upgrade) and mutable globals.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import math
import os
import sys
import types
import weakref
from collections.abc import Callable
from typing import Any

_handlers: dict[type, Callable[[Any], str]] = {}


def register_fingerprint(cls: type, fn: Callable[[Any], str]) -> None:
    """Use ``fn(value) -> str`` as the content fingerprint of instances of ``cls``."""
    _handlers[cls] = fn


def digest(data: str | bytes, size: int = 16) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=size).hexdigest()


FLEETING = "\x00changing:"  # marks a random component (no repr of a value has a raw NUL)


def changing() -> str:
    """A fingerprint equal to nothing else: the value counts as changed every time."""
    return FLEETING + os.urandom(16).hex()


def fingerprint(value: Any) -> str:
    """A content fingerprint of ``value``."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return repr(value)
    if kind is int:  # hex has no digit limit (repr refuses ints over 4,300 digits)
        return repr(value) if -(1 << 60) < value < (1 << 60) else hex(value)
    if kind is float:
        return "nan" if math.isnan(value) else repr(value)
    if kind is list or kind is tuple:
        return ("[" if kind is list else "(") + ",".join(map(fingerprint, value)) + ")"
    if kind is dict:
        items = sorted((fingerprint(k), fingerprint(v)) for k, v in value.items())
        return "{" + ",".join(f"{k}:{v}" for k, v in items) + "}"
    return _fingerprint_object(value)


def _fingerprint_object(value: Any) -> str:
    for cls in type(value).__mro__:
        handler = _handlers.get(cls)
        if handler is not None:
            return f"{type(value).__qualname__}<{handler(value)}>"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "b<" + digest(bytes(value)) + ">"
    if isinstance(value, (set, frozenset)):
        return "set{" + ",".join(sorted(map(fingerprint, value))) + "}"
    if isinstance(value, (int, float, str, tuple)):  # subclasses: enums, named tuples, ...
        return f"{type(value).__qualname__}<{fingerprint(_base_value(value))}>"
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        return _fingerprint_tensor(value)
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.ndarray):
        data = numpy.ascontiguousarray(value)
        return f"ndarray<{data.dtype.str}{list(data.shape)}:{digest(data.tobytes())}>"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return f"{type(value).__qualname__}<{fingerprint(fields)}>"
    if isinstance(value, (type, types.FunctionType)):
        return f"code<{code_fingerprint(value)}>"
    pil = sys.modules.get("PIL.Image")
    if pil is not None and isinstance(value, pil.Image):
        return f"PIL<{value.mode}{value.size}:{digest(value.tobytes())}>"
    return changing()


def _base_value(value: Any) -> Any:
    for base in (bool, int, float, str):
        if isinstance(value, base):
            return base(value)
    return tuple(value)


# A tensor's fingerprint, remembered until the tensor changes: a 256 MB constant is
# hashed once, not on every run. ``_version`` counts in-place edits; a new storage,
# view or dtype changes the rest of the stamp.
_tensor_fingerprints: dict[int, tuple] = {}  # id -> (weak reference, stamp, fingerprint)


def _fingerprint_tensor(tensor) -> str:
    stamp = (
        tensor._version,
        tensor.data_ptr(),
        tuple(tensor.shape),
        tensor.stride(),
        tensor.dtype,
        tensor.device,
    )
    known = _tensor_fingerprints.get(id(tensor))
    if known is not None and known[0]() is tensor and known[1] == stamp:
        return known[2]
    result = _hash_tensor(tensor)
    key = id(tensor)
    try:
        ref = weakref.ref(tensor, lambda _, key=key: _tensor_fingerprints.pop(key, None))
    except TypeError:  # not weak-referenceable: hash every time
        return result
    _tensor_fingerprints[key] = (ref, stamp, result)
    return result


def _hash_tensor(tensor) -> str:
    import torch

    t = tensor.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    t = t.contiguous()
    # Viewing as bytes works for every dtype, bfloat16 included (numpy has none).
    raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
    return f"tensor<{str(tensor.dtype)}{list(tensor.shape)}:{digest(raw)}>"


def code_fingerprint(obj: Any) -> str:
    """A fingerprint of the code of a node class or function (see module docstring)."""
    parts: list[str] = []
    if isinstance(obj, type):
        for cls in obj.__mro__:
            if cls is object or cls.__module__ == "builtins":
                continue
            parts.append(cls.__qualname__)
            for name in sorted(vars(cls)):
                if name.startswith("__") and name not in ("__init__", "__call__"):
                    continue
                parts.append(name + "=" + _member_fingerprint(vars(cls)[name]))
    else:
        parts.append(_member_fingerprint(obj))
    return digest("\n".join(parts))


def _member_fingerprint(member: Any) -> str:
    if isinstance(member, (classmethod, staticmethod)):
        member = member.__func__
    if isinstance(member, property):
        member = member.fget
    if isinstance(member, types.FunctionType):
        extra = (member.__defaults__, member.__kwdefaults__)
        return _code_parts(member.__code__) + fingerprint(_plain(extra))
    if inspect.isroutine(member) or isinstance(member, type):
        return getattr(member, "__qualname__", type(member).__qualname__)
    return fingerprint(_plain(member))


def _code_parts(code: types.CodeType) -> str:
    consts = [
        _code_parts(c) if isinstance(c, types.CodeType) else fingerprint(_plain(c))
        for c in code.co_consts
    ]
    return f"{code.co_code.hex()}|{consts}|{code.co_names}|{code.co_varnames}"


def global_references(obj: Any) -> list[tuple[dict, tuple[str, ...]]]:
    """The globals a node's code reads: (a module's globals dict, the names it reads there).

    For a function, its own; for a class, those of its methods. Helper functions
    of the same module are followed (their globals count too), once each.
    """
    functions = []
    if isinstance(obj, type):
        for cls in obj.__mro__:
            if cls is object or cls.__module__ == "builtins":
                continue
            for member in vars(cls).values():
                if isinstance(member, (classmethod, staticmethod)):
                    member = member.__func__
                if isinstance(member, types.FunctionType):
                    functions.append(member)
    elif isinstance(obj, types.FunctionType):
        functions.append(obj)
    found: dict[int, tuple[dict, set[str]]] = {}
    seen: set[int] = set()
    while functions:
        function = functions.pop()
        if id(function) in seen:
            continue
        seen.add(id(function))
        namespace = function.__globals__
        names = found.setdefault(id(namespace), (namespace, set()))[1]
        for name in _names(function.__code__):
            value = namespace.get(name)
            if name in namespace and not isinstance(value, (types.ModuleType, type)):
                names.add(name)
                if (
                    isinstance(value, types.FunctionType)
                    and value.__module__ == function.__module__
                ):
                    functions.append(value)
    return [(namespace, tuple(sorted(names))) for namespace, names in found.values() if names]


def globals_fingerprint(references: list[tuple[dict, tuple[str, ...]]]) -> str:
    """``name=fingerprint`` of the current values of those globals (functions by code).

    Only immutable values count (numbers, strings, tuples of them...) and
    functions: a mutable global (a list a node appends to as a log, a model
    object) is left out, a blind spot rather than a node that reruns every time.
    """
    parts = []
    for namespace, names in references:
        for name in names:
            if name not in namespace:
                parts.append(f"{name}=<missing>")
                continue
            value = namespace[name]
            if isinstance(value, types.FunctionType):
                text = _code_parts(value.__code__)
            elif _immutable(value):
                text = fingerprint(value)
            else:
                continue
            parts.append(f"{name}={digest(text, 8)}")
    return ";".join(parts)


def _immutable(value: Any) -> bool:
    if isinstance(value, (str, int, float, bool, bytes, complex, type(None))):
        return True
    if isinstance(value, (tuple, frozenset)):
        return all(_immutable(v) for v in value)
    return False


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def _plain(value: Any) -> Any:
    """Replace what has no stable fingerprint with its type name (for code constants)."""
    if isinstance(value, (str, int, float, bool, bytes, type(None))):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(map(repr, value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, types.FunctionType):
        return _code_parts(value.__code__)
    return type(value).__qualname__
