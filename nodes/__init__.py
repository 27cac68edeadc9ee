"""Workbench's node library: ComfyUI-compatible image, mask and primitive nodes, and more.

``NODE_CLASS_MAPPINGS`` / ``NODE_DISPLAY_NAME_MAPPINGS`` are merged from the
node modules, as a ComfyUI node pack exports them; ``register_all(registry)``
loads them all into an ``engine.NodeRegistry``. Files are read from and written
to the folders of ``nodes.folders`` (configure them there).

ComfyUI's own module of this name is ``nodes`` too, and node packs import from
it: ``MAX_RESOLUTION`` is here, and every node class is an attribute
(``nodes.PreviewImage``), so ``import nodes`` in a pack finds what it expects
of it (a pack needing more of ComfyUI's ``nodes`` fails to load, naming it).
"""

from __future__ import annotations

from importlib import import_module

from .resize import MAX_RESOLUTION

__all__ = ["MAX_RESOLUTION", "NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "register_all"]

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


for _module in (
    ".io",
    ".image",
    ".filters",
    ".batch",
    ".mask",
    ".primitives",
    ".logic",
    ".expression",
    ".sizing",
):
    _merge(_module)
# The diffusion helper adds its mappings on the one line below (keep it a single line).
_merge(".diffusion")  # diffusion helper: the teaching pipeline and model loader


def __getattr__(name: str):
    """A node class by its type name (``nodes.SaveImage``), as in ComfyUI's ``nodes`` module."""
    try:
        return NODE_CLASS_MAPPINGS[name]
    except KeyError:
        raise AttributeError(f"module 'nodes' has no attribute {name!r}") from None


def register_all(registry) -> None:
    """Register every node of the library in ``registry`` (an ``engine.NodeRegistry``)."""
    registry.load_mappings(NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS)
