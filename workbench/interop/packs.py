"""Loading ComfyUI custom node packs: ``load_custom_nodes(path, registry)`` and its report.

A pack is a folder with an ``__init__.py`` (or a single ``.py`` file), as in
ComfyUI's ``custom_nodes`` folder; a folder of packs loads every pack in it
(in name order, skipping names starting with ``.`` or ``__`` and ending in
``.disabled``, as ComfyUI). Each pack is imported as a module named after it,
with the stand-in modules installed (``standins.py``), then:

- V1: ``NODE_CLASS_MAPPINGS`` (with ``NODE_DISPLAY_NAME_MAPPINGS``) is
  registered; a V3 class found there is adapted (``adapter.py``);
- V3: ``comfy_entrypoint()`` is awaited, then the extension's ``on_load()``
  and ``get_node_list()``; each node is adapted and registered by its
  schema's ``node_id``;
- ``WEB_DIRECTORY`` (frontend extensions) and HTTP routes are ignored, with a note.

Nothing a pack does at import or registration escapes: an import error, any
exception, even ``SystemExit``, becomes the pack's one-line ``error`` in the
report (the traceback is kept in ``details``), its half-imported modules are
removed, and the other packs load. A pack importing a module we lack fails
with one message naming the pack and the module. A node that cannot be
registered (a broken class, a schema we do not support) is skipped with its
reason; the pack's other nodes load. Node types of the built-in library are
never replaced: a pack node with a built-in's name is skipped. Loading a pack
again re-imports it (its code may have changed) and replaces its node types.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from engine._aio import resolve

from . import adapter, standins
from .server import PromptServer

__all__ = ["LoadReport", "PackReport", "load_custom_nodes"]


@dataclass
class PackReport:
    """What loading one pack did."""

    name: str
    path: str
    api: str = ""  # "V1", "V3", "V1+V3", or "" if it registered nothing
    nodes: list[str] = field(default_factory=list)  # the node types it registered
    error: str | None = None  # one line: why the pack did not load
    details: str = ""  # the traceback behind ``error``
    skipped: dict[str, str] = field(default_factory=dict)  # node type -> why not registered
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(repr=False)
class LoadReport:
    """What ``load_custom_nodes`` did, pack by pack; prints as a short table."""

    path: str
    packs: list[PackReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.packs)

    @property
    def nodes(self) -> list[str]:
        return [n for p in self.packs for n in p.nodes]

    @property
    def failed(self) -> list[PackReport]:
        return [p for p in self.packs if not p.ok]

    def __str__(self) -> str:
        loaded = [p for p in self.packs if p.ok]
        lines = [
            f"{len(loaded)} of {len(self.packs)} node packs loaded from {self.path}, "
            f"{len(self.nodes)} node types"
        ]
        for pack in self.packs:
            if pack.ok:
                nodes = ", ".join(pack.nodes) or "no nodes"
                lines.append(f"  {pack.name} ({pack.api or '-'}, {pack.seconds:.2f} s): {nodes}")
            else:
                lines.append(f"  {pack.error}")
            lines += [f"    skipped {name}: {why}" for name, why in pack.skipped.items()]
            lines += [f"    note: {note}" for note in pack.notes]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    __repr__ = __str__


def load_custom_nodes(path: str | os.PathLike, registry, executor=None) -> LoadReport:
    """Load the pack at ``path``, or every pack in the folder ``path``, into ``registry``.

    ``executor`` is the session's: events a pack sends outside a run go to its
    bus, and ``interrupt_current_processing`` interrupts it.
    """
    root = Path(path).expanduser().resolve()
    if not root.exists():
        raise FileNotFoundError(f"no custom node pack or folder at {root}")
    report = LoadReport(str(root))
    report.notes += standins.install(executor, registry.scope)
    if _is_pack(root):
        locations = [root]
    elif root.is_dir():
        locations = [p for p in sorted(root.iterdir()) if _listed(p) and _is_pack(p)]
    else:
        raise ValueError(f"{root} is neither a node pack (a folder with __init__.py, or a .py "
                         "file) nor a folder of packs")  # fmt: skip
    builtin = _builtin_names()
    with registry.scope():  # a pack's import-time code sees the session's folders
        for location in locations:
            report.packs.append(_load_pack(location, registry, builtin))
    return report


def _is_pack(path: Path) -> bool:
    return (path.is_dir() and (path / "__init__.py").is_file()) or (
        path.is_file() and path.suffix == ".py"
    )


def _listed(path: Path) -> bool:
    name = path.name
    return not (name.startswith((".", "__")) or name.endswith(".disabled"))


def _builtin_names() -> frozenset[str]:
    import nodes

    return frozenset(nodes.NODE_CLASS_MAPPINGS)


def _load_pack(location: Path, registry, builtin: frozenset[str]) -> PackReport:
    name = location.stem if location.is_file() else location.name
    report = PackReport(name, str(location))
    started = time.perf_counter()
    routes_before = len(PromptServer.instance.routes.declared)
    try:
        module = _import(name, location)
    except _PackError as exc:
        report.error, report.details = f"{name}: {exc}", exc.details
    else:
        _register(module, report, registry, builtin)
        routes = PromptServer.instance.routes.declared[routes_before:]
        if routes:
            report.notes.append(
                f"{len(routes)} HTTP route(s) declared ({routes[0][1]}...) are not served: "
                "the workbench runs no web server"
            )
    report.seconds = time.perf_counter() - started
    return report


class _PackError(Exception):
    def __init__(self, message: str, details: str = ""):
        super().__init__(message)
        self.details = details


# The modules imported as packs (a pack loaded again, from anywhere, replaces its module).
_packs: set[str] = set()


def _import(name: str, location: Path):
    """Import the pack as module ``name``; a ``_PackError`` with one line if it fails."""
    taken = _taken(name, location)
    if taken is not None:
        raise _PackError(
            f"its name is taken by the module {name!r} ({taken}), which the pack would hide "
            "from everything else; rename the pack's folder"
        )
    _forget(name)  # loaded before: import it afresh
    init = location / "__init__.py" if location.is_dir() else location
    search = [str(location)] if location.is_dir() else None
    spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=search)
    if spec is None or spec.loader is None:
        raise _PackError(f"cannot be imported from {init}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except KeyboardInterrupt:
        _forget(name)
        raise
    except BaseException as exc:  # noqa: BLE001 (SystemExit too: a pack must not end the kernel)
        _forget(name)
        raise _PackError(_why(exc), traceback.format_exc()) from None
    _packs.add(name)
    return module


def _taken(name: str, location: Path) -> str | None:
    """Where a module called ``name`` that is not this pack comes from, or None if none is.

    A pack is imported under its folder's name, as ComfyUI does; a name that an
    installed module has (loaded or not yet) would replace it for everyone.
    """
    present = sys.modules.get(name)
    if present is not None:
        return None if name in _packs else f"already loaded from {_origin(present)}"
    if "." in name:
        return None
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    origin = spec.origin or next(iter(spec.submodule_search_locations or ()), None)
    if origin in (None, "built-in", "frozen"):
        return "built into Python"
    try:
        if Path(origin).resolve().is_relative_to(location):
            return None  # this very pack, on sys.path
    except (OSError, ValueError):
        pass
    return f"installed at {origin}"


def _origin(module) -> str:
    return getattr(module, "__file__", None) or "somewhere"


def _why(exc: BaseException) -> str:
    """One line saying why a pack failed to import."""
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        if standins.is_comfyui_module(exc.name):
            return (
                f"needs module {exc.name!r}, a part of ComfyUI the workbench does not provide "
                "(its model internals, server or frontend)"
            )
        return f"needs module {exc.name!r}, which is not installed here"
    stand_in = None
    if isinstance(exc, ImportError):
        stand_in = standins.stand_in_for(exc.name)
        if stand_in is None and standins.is_comfyui_module(exc.name):
            stand_in = exc.name  # "nodes": the workbench's own node library
    if stand_in is not None:
        wanted = re.match(r"cannot import name '([^']+)'", str(exc))
        what = repr(wanted.group(1)) if wanted else "a name"
        return (
            f"needs {what} from {stand_in!r}, which the workbench's stand-in for it does not "
            "provide (see docs/node-packs.md)"
        )
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r}) while being imported"
    where = ""
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        where = f" ({os.path.basename(last.filename)}, line {last.lineno})"
    return f"failed to import: {type(exc).__name__}: {exc}{where}"


def _forget(name: str) -> None:
    for module_name in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[module_name]


def _register(module, report: PackReport, registry, builtin: frozenset[str]) -> None:
    apis = []
    mappings = getattr(module, "NODE_CLASS_MAPPINGS", None)
    if mappings is not None:
        apis.append("V1")
        if isinstance(mappings, Mapping):
            names = getattr(module, "NODE_DISPLAY_NAME_MAPPINGS", None)
            names = names if isinstance(names, Mapping) else {}
            for node_name, cls in list(mappings.items()):
                _add(report, registry, builtin, str(node_name), cls, names.get(node_name))
        else:
            report.notes.append(f"NODE_CLASS_MAPPINGS is a {type(mappings).__name__}, not a dict")
    entrypoint = getattr(module, "comfy_entrypoint", None)
    if callable(entrypoint):
        apis.append("V3")
        try:
            extension = resolve(entrypoint())
            if hasattr(extension, "on_load"):
                resolve(extension.on_load())
            node_list = list(resolve(extension.get_node_list()))
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 (see _import)
            report.error = f"{report.name}: comfy_entrypoint() failed: {type(exc).__name__}: {exc}"
            report.details = traceback.format_exc()
            return
        for cls in node_list:
            try:
                node_name = adapter.schema_of(cls).node_id if adapter.is_v3(cls) else None
            except Exception as exc:
                report.skipped[getattr(cls, "__name__", repr(cls))] = _reason(exc)
                continue
            if node_name is None:
                report.skipped[getattr(cls, "__name__", repr(cls))] = "not an io.ComfyNode"
                continue
            _add(report, registry, builtin, node_name, cls, None)
    if getattr(module, "WEB_DIRECTORY", None):
        report.notes.append(
            "WEB_DIRECTORY ignored: the workbench's editor does not load ComfyUI frontend "
            "extensions (widgets they add are missing)"
        )
    report.api = "+".join(apis)
    if not apis:
        report.error = (
            f"{report.name}: exports no nodes (neither NODE_CLASS_MAPPINGS nor comfy_entrypoint)"
        )


def _add(report, registry, builtin, node_name, cls, display_name) -> None:
    """Register one node type of the pack, or record in ``report.skipped`` why not."""
    if node_name in builtin:
        report.skipped[node_name] = "a built-in node type has this name; the built-in is kept"
        return
    try:
        if adapter.is_v3(cls):
            cls = adapter.v1_class(cls)
            report.notes += cls.V3_NOTES
        if isinstance(cls, type):
            cls.RELATIVE_PYTHON_MODULE = f"custom_nodes.{report.name}"  # as ComfyUI sets it
        registry.register(cls, name=node_name, display_name=display_name)
        registry.get(node_name).spec()  # INPUT_TYPES() must work, or the node cannot be used
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 (see _import)
        registry.unregister(node_name)
        report.skipped[node_name] = _reason(exc)
        return
    report.nodes.append(node_name)


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
