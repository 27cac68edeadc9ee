"""Reading JSON documents we did not write: size, nesting and content bounded.

A workflow file may come from anyone. Everything the readers take goes through
here first: ``parse_json`` for text, ``plain_json`` for a dict handed over by
code. Both return plain JSON data (dicts with string keys, lists, strings,
numbers, booleans, None) no deeper than ``MAX_DEPTH``, or raise ``DocumentError``
with a sentence naming the problem. ``NaN`` and ``Infinity`` are accepted, as
ComfyUI writes them (Python's ``json.dumps``).

The other limits are the readers' (``convert.py``, ``png.py``), kept here so they
can be read in one place.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_ID_LENGTH",
    "MAX_LINKS",
    "MAX_NESTING",
    "MAX_NODES",
    "DocumentError",
    "copy_json",
    "dump_json",
    "parse_json",
    "plain_json",
]

MAX_FILE_BYTES = 64 * 2**20  # a workflow file; real ones are under a few MB
MAX_DEPTH = 100  # JSON nesting; real workflows nest under 15 levels
MAX_NODES = 20_000  # nodes of a graph, flattened subgraphs included
MAX_LINKS = 100_000  # links of one graph level
MAX_ID_LENGTH = 64  # characters of a node id (an integer id counts its digits)
MAX_NESTING = 16  # subgraphs inside subgraphs


class DocumentError(ValueError):
    """A document that is not JSON we can read (the message says why)."""


def parse_json(text: str | bytes) -> Any:
    """JSON text (``NaN`` and ``Infinity`` allowed) as plain data; ``DocumentError`` if not."""
    if len(text) > MAX_FILE_BYTES:
        raise DocumentError(f"it is {len(text):,} bytes, more than {MAX_FILE_BYTES:,}")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DocumentError(
                f"it is not UTF-8 text ({exc.reason} at byte {exc.start})"
            ) from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise DocumentError(f"its JSON nests deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, or an integer too long to convert
        raise DocumentError(f"it is not JSON: {exc}") from None
    _check_depth(data)
    return data


def _check_depth(data: Any) -> None:
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise DocumentError(f"its JSON nests deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def plain_json(value: Any, problems: list[str] | None = None) -> Any:
    """A copy of ``value`` as plain JSON data.

    Tuples become lists; integer, float and boolean keys become strings (as
    ``json.dumps`` writes them); numpy-like scalars become numbers. Anything
    else (an object, bytes, a set, a key of another type, a container inside
    itself, nesting past ``MAX_DEPTH``) becomes None, and its path is added to
    ``problems``. Never raises.
    """
    if problems is None:
        problems = []
    return _plain(value, "$", 1, set(), problems)


def _plain(value: Any, path: str, depth: int, active: set[int], problems: list[str]) -> Any:
    if value is None or isinstance(value, (str, bool, int)):
        return value if type(value) in (str, bool, int, type(None)) else _scalar(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, (dict, list, tuple)):
        if depth > MAX_DEPTH:
            _note(problems, f"{path}: nested deeper than {MAX_DEPTH} levels")
            return None
        if id(value) in active:
            _note(problems, f"{path}: contains itself")
            return None
        active.add(id(value))
        try:
            if isinstance(value, dict):
                out = {}
                for key, item in list(value.items()):
                    if isinstance(key, (bool, int, float)) or key is None:
                        key = json.dumps(key)
                    elif not isinstance(key, str):
                        _note(problems, f"{path}: a key of type {type(key).__name__}")
                        continue
                    out[str(key)] = _plain(item, f"{path}.{key}"[:200], depth + 1, active, problems)
                return out
            return [
                _plain(item, f"{path}[{i}]", depth + 1, active, problems)
                for i, item in enumerate(list(value))
            ]
        finally:
            active.discard(id(value))
    scalar = _scalar(value)
    if scalar is None:
        _note(problems, f"{path}: a {type(value).__name__}, which JSON cannot hold")
    return scalar


def _scalar(value: Any) -> Any:
    """A number-like or str-like value as its plain type, or None."""
    try:
        if isinstance(value, str):
            return str(value)
        if isinstance(value, bool) or type(value).__name__ == "bool_":
            return bool(value)
        if isinstance(value, int) or hasattr(value, "__index__"):
            return int(value.__index__() if hasattr(value, "__index__") else value)
        if hasattr(value, "__float__") and not isinstance(value, (bytes, bytearray)):
            result = float(value)
            return result
    except Exception:  # a hostile __index__/__float__
        return None
    return None


def _note(problems: list[str], text: str) -> None:
    if len(problems) < 100:
        problems.append(text)


def copy_json(value: Any) -> Any:
    """A copy of the dicts and lists in ``value``; anything else (a number, a tensor
    constant of a graph built in code) is shared, not copied."""
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    return value


def dump_json(value: Any, indent: int | None = 2) -> str:
    """JSON text as ComfyUI writes it (``NaN``/``Infinity`` kept, non-ASCII escaped)."""
    return json.dumps(value, indent=indent, allow_nan=True)


def is_number(value: Any) -> bool:
    """An int or a finite float, not a bool."""
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and math.isfinite(value)
    )
