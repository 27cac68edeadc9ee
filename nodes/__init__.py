"""Workbench's node library: ComfyUI-compatible image, mask and primitive nodes, and more.

``NODE_CLASS_MAPPINGS`` / ``NODE_DISPLAY_NAME_MAPPINGS`` are merged from the
node modules, as a ComfyUI node pack exports them; ``register_all(registry)``
loads them all into an ``engine.NodeRegistry``. Files are read from and written
to the folders of ``nodes.folders`` (configure them there).
"""

from __future__ import annotations

from importlib import import_module

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "register_all"]

NODE_CLASS_MAPPINGS: dict[str, type] = {}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}


def _merge(module_name: str) -> None:
    """Add the mappings of a module, named relative to this package (``".io"``)."""
    module = import_module(module_name, __name__)
    for name in module.NODE_CLASS_MAPPINGS:
        if name in NODE_CLASS_MAPPINGS:
            raise RuntimeError(f"node type {name!r} is defined twice ({module.__name__})")
    NODE_CLASS_MAPPINGS.update(module.NODE_CLASS_MAPPINGS)
    NODE_DISPLAY_NAME_MAPPINGS.update(getattr(module, "NODE_DISPLAY_NAME_MAPPINGS", {}))


for _module in (".io", ".image", ".filters", ".batch", ".mask", ".primitives"):
    _merge(_module)
# The diffusion helper adds its mappings on the one line below (keep it a single line).
_merge(".diffusion")  # diffusion helper: the teaching pipeline and model loader


def register_all(registry) -> None:
    """Register every node of the library in ``registry`` (an ``engine.NodeRegistry``)."""
    registry.load_mappings(NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS)
