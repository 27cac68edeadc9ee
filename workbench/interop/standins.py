"""The stand-in modules: ComfyUI's module names a pack imports, onto the workbench.

    ComfyUI module                    what it is here
    comfy_api.latest (io, ui...)      comfy_api.py, comfy_io.py, comfy_ui.py
    comfy_api.latest._io, ._ui        the same io and ui; comfy_api.v0_0_2 is latest too
    comfy_execution.graph_utils       engine.graph: GraphBuilder, is_link, ExecutionBlocker
    comfy_execution.graph             engine.graph: ExecutionBlocker, DynamicPrompt
    comfy.comfy_types(.node_typing)   comfy_types.py: IO, ComfyNodeABC, InputTypeDict
    comfy.utils                       comfy_utils.py: ProgressBar, common_upscale
    comfy.model_management            model_management.py: interrupts
    folder_paths                      folder_paths.py: the session's folders
    server                            server.py: PromptServer.instance
    nodes                             the node library itself (nodes.MAX_RESOLUTION)

``install(executor)`` puts them into ``sys.modules``; only ``load_custom_nodes``
calls it, so nothing of ComfyUI's names exists in a session that loads no
pack. A name some other module already holds (a real ComfyUI on the path) is
left alone and reported. Any other ``comfy.*`` module (``comfy.sd``,
``comfy.samplers``...: ComfyUI's model internals) stays missing, so a pack
importing one fails to load with a message naming it.
"""

from __future__ import annotations

import sys
import types

from engine import graph as engine_graph
from engine.errors import DependencyCycleError

from . import (
    comfy_api,
    comfy_io,
    comfy_types,
    comfy_ui,
    comfy_utils,
    folder_paths,
    model_management,
    server,
)

# Packages: modules with an empty __path__, so that a missing submodule is a
# clean ModuleNotFoundError naming it.
PACKAGES = ("comfy", "comfy_api", "comfy_execution")
# ComfyUI's own top-level modules: a pack missing one of these needs ComfyUI itself.
COMFYUI_MODULES = frozenset(
    {*PACKAGES, "comfy_extras", "comfy_config", "execution", "latent_preview", "node_helpers",
     "app", "folder_paths", "server", "nodes", "comfyui_version", "protocol", "middleware"}
)  # fmt: skip

_installed: dict[str, types.ModuleType] = {}


def _namespace(name: str, doc: str, **attributes) -> types.ModuleType:
    module = types.ModuleType(name, doc)
    module.__dict__.update(attributes)
    return module


def _modules() -> dict[str, types.ModuleType]:
    graph_utils = _namespace(
        "comfy_execution.graph_utils",
        "GraphBuilder and is_link (engine.graph), for node expansion.",
        GraphBuilder=engine_graph.GraphBuilder,
        is_link=engine_graph.is_link,
        ExecutionBlocker=engine_graph.ExecutionBlocker,
    )
    graph = _namespace(
        "comfy_execution.graph",
        "ExecutionBlocker and DynamicPrompt (engine.graph).",
        ExecutionBlocker=engine_graph.ExecutionBlocker,
        DynamicPrompt=engine_graph.DynamicPrompt,
        DependencyCycleError=DependencyCycleError,
    )
    modules = {
        name: _namespace(name, f"Workbench stand-in for ComfyUI's {name}.") for name in PACKAGES
    }
    for package in PACKAGES:
        modules[package].__path__ = []
    modules.update(
        {
            "comfy.utils": comfy_utils,
            "comfy.model_management": model_management,
            "comfy.comfy_types": comfy_types,
            "comfy.comfy_types.node_typing": comfy_types,
            "comfy_execution.graph_utils": graph_utils,
            "comfy_execution.graph": graph,
            "comfy_api.latest": comfy_api,
            "comfy_api.latest._io": comfy_io,
            "comfy_api.latest._ui": comfy_ui,
            "comfy_api.v0_0_2": comfy_api,
            "folder_paths": folder_paths,
            "server": server,
        }
    )
    # Submodules are attributes of their parents, as after a real import.
    modules["comfy"].utils = comfy_utils
    modules["comfy"].model_management = model_management
    modules["comfy"].comfy_types = comfy_types
    modules["comfy_execution"].graph_utils = graph_utils
    modules["comfy_execution"].graph = graph
    modules["comfy_api"].latest = comfy_api
    modules["comfy_api"].v0_0_2 = comfy_api
    return modules


def install(executor=None, scope=None) -> list[str]:
    """Put the stand-ins into ``sys.modules`` and bind them to a session: its ``executor``
    and its folders (``scope``: its registry's ``scope``). Returns notes on names left
    alone because another module holds them."""
    if not _installed:
        _installed.update(_modules())
    notes = []
    for name, module in _installed.items():
        present = sys.modules.get(name)
        if present is None:
            sys.modules[name] = module
        elif present is not module:
            notes.append(f"module {name!r} is already loaded from elsewhere; it is used as it is")
    server.PromptServer.instance.bind(executor)
    model_management.bind(executor)
    folder_paths.bind(scope)
    return notes


def stand_in_for(module_name: str | None) -> str | None:
    """The ComfyUI name a stand-in module (by its own ``__name__``) is installed as, or None."""
    for comfy_name, module in _installed.items():
        if module.__name__ == module_name:
            return comfy_name
    return None


def is_comfyui_module(name: str | None) -> bool:
    """Whether ``name`` is (inside) one of ComfyUI's own modules."""
    return bool(name) and name.split(".")[0] in COMFYUI_MODULES
