"""ComfyUI compatibility for custom node packs: ``load_custom_nodes(path, registry)``.

Imported only when a pack is loaded (``Workbench.load_custom_nodes``); nothing
else in the workbench depends on it. Its parts:

- ``packs.py``: finding and importing packs, registering their nodes, the report;
- ``standins.py``: the table of ComfyUI module names a pack may import and what
  they are here; the stand-ins themselves are ``comfy_api.py`` (with
  ``comfy_io.py``, ``v3_node.py`` and ``comfy_ui.py``: the V3 schema API),
  ``comfy_types.py``, ``comfy_utils.py``, ``model_management.py``,
  ``folder_paths.py`` and ``server.py``;
- ``adapter.py``: a V3 node as a V1 class for the engine's registry.

Packs are code the user chose to run: they are not sandboxed, but nothing a
pack does while loading can end the session (see ``packs.py``).
"""

from .packs import LoadReport, PackReport, load_custom_nodes

__all__ = ["LoadReport", "PackReport", "load_custom_nodes"]
