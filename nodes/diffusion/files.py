"""Where model files are found: the user's models folder, then the weights shipped here.

    models folder = the current folders' models folder (``nodes.folders``: <data folder>/models)
    shipped       = nodes/diffusion/weights/

A model is named by its path relative to one of these folders (``"shapes32.safetensors"``,
``"mine/unet.safetensors"``); the user's folder wins when both hold a name. Names
that would reach outside their folder (``..``, absolute paths, symbolic links
pointing out) are never resolved.

The models folder follows the session's folders (``nodes.folders.current()``):
a ``Workbench(data_dir=...)`` run looks in its own data folder's ``models``.
"""

from __future__ import annotations

import os

from .. import folders

SHIPPED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")
DEFAULT_MODEL = "shapes32.safetensors"
EXTENSIONS = (".safetensors",)


def models_dir() -> str:
    """The user's models folder (absolute; it may not exist)."""
    return folders.current().directory("models")


def search_dirs() -> list[str]:
    return [models_dir(), SHIPPED_DIR]


def list_models() -> list[str]:
    """Names of the model files in the search folders, sorted, shipped ones included."""
    names: set[str] = set()
    for root in search_dirs():
        real_root = os.path.realpath(root)
        # folder → the real paths of it and the folders walked through to reach it.
        trail = {root: frozenset([real_root])}
        for folder, dirs, files in os.walk(root, followlinks=True):
            # Descend only into folders really inside the root: a linked folder may
            # point anywhere (even "/"), or back at one we are in (a walk without end).
            kept = []
            for d in sorted(dirs):
                real = os.path.realpath(os.path.join(folder, d))
                inside = os.path.commonpath([real_root, real]) == real_root
                if inside and real not in trail[folder]:
                    trail[os.path.join(folder, d)] = trail[folder] | {real}
                    kept.append(d)
            dirs[:] = kept
            for file in files:
                if file.endswith(EXTENSIONS):
                    name = os.path.relpath(os.path.join(folder, file), root)
                    if _inside(root, name, real_root):
                        names.add(name.replace(os.sep, "/"))
    return sorted(names)


def find_model(name: str) -> str | None:
    """The path of the model file called ``name``, or None if no folder has it."""
    if not isinstance(name, str) or not name:
        return None
    for root in search_dirs():
        if _inside(root, name):
            path = os.path.join(root, os.path.normpath(name))
            if os.path.isfile(path):
                return path
    return None


def _inside(root: str, name: str, real_root: str | None = None) -> bool:
    """Whether ``root/name`` is inside ``root`` (``real_root``: its realpath, if known)."""
    if os.path.isabs(name) or "\x00" in name:
        return False
    if real_root is None:
        real_root = os.path.realpath(root)
    real = os.path.realpath(os.path.join(root, os.path.normpath(name)))
    return os.path.commonpath([real_root, real]) == real_root and real != real_root
