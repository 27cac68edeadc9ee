"""The ``folder_paths`` stand-in: ComfyUI's folder functions, onto the workbench's folders.

Input, output and temp are ``nodes.folders``' current ones: during a run or an
``INPUT_TYPES()`` call, the session's; elsewhere (a pack's import, code a user
calls) those of the session that loaded the packs (``bind``). Model folders
(``checkpoints``, ``loras``...) are subfolders of its models folder
(``<data dir>/models``), plus any a pack adds with ``add_model_folder_path``. A name a pack resolves is
checked as ``nodes.folders`` checks names from prompts: ``get_full_path``
never returns a path outside its folder, ``get_annotated_filepath`` and
``get_save_image_path`` raise ``PathEscapeError``.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator

from nodes import folders
from nodes.diffusion import files

supported_pt_extensions = {".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft"}
# ComfyUI's model folder names; each is <models dir>/<name> unless a pack adds paths.
MODEL_FOLDERS = (
    "checkpoints",
    "configs",
    "loras",
    "vae",
    "text_encoders",
    "diffusion_models",
    "clip_vision",
    "style_models",
    "embeddings",
    "diffusers",
    "vae_approx",
    "controlnet",
    "gligen",
    "upscale_models",
    "latent_upscale_models",
    "hypernetworks",
    "photomaker",
    "classifiers",
    "model_patches",
    "audio_encoders",
)
_LEGACY = {"unet": "diffusion_models", "clip": "text_encoders", "t2i_adapter": "controlnet"}
MAX_LISTED = 100_000  # files get_filename_list reads from one folder tree

# folder name -> (extra paths added by packs, extensions); the default path is computed
# when asked, so it follows the session's data directory.
folder_names_and_paths: dict[str, tuple[list[str], set[str]]] = {
    name: ([], set(supported_pt_extensions)) for name in MODEL_FOLDERS
}
folder_names_and_paths["configs"] = ([], {".yaml"})
folder_names_and_paths["custom_nodes"] = ([], set())

_session_scope: Callable | None = None  # the loading session's registry.scope


def bind(scope: Callable | None) -> None:
    """Use ``scope()`` (a session's folders) where no session's folders apply already."""
    global _session_scope
    _session_scope = scope


@contextlib.contextmanager
def _session() -> Iterator[None]:
    if folders.active() is not None or _session_scope is None:
        yield
    else:
        with _session_scope():
            yield


def _in_session(function: Callable) -> Callable:
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with _session():
            return function(*args, **kwargs)

    return wrapper


def __getattr__(name: str):
    """``models_dir``, ``base_path``, ``output_directory``... read when used, as the folders move."""
    directories = {
        "base_path": folders.get_base_directory,
        "models_dir": files.models_dir,
        "output_directory": folders.get_output_directory,
        "input_directory": folders.get_input_directory,
        "temp_directory": folders.get_temp_directory,
        "user_directory": get_user_directory,
    }
    if name in directories:
        with _session():
            return directories[name]()
    raise AttributeError(f"module 'folder_paths' has no attribute {name!r}")


def map_legacy(folder_name: str) -> str:
    return _LEGACY.get(folder_name, folder_name)


@_in_session
def get_input_directory() -> str:
    return folders.get_input_directory()


@_in_session
def get_output_directory() -> str:
    return folders.get_output_directory()


@_in_session
def get_temp_directory() -> str:
    return folders.get_temp_directory()


@_in_session
def get_user_directory() -> str:
    return os.path.join(folders.get_base_directory(), "user")


@_in_session
def get_directory_by_type(type_name: str) -> str | None:
    return folders.get_directory(type_name) if type_name in folders.KINDS else None


@_in_session
def annotated_filepath(name: str) -> tuple[str, str | None]:
    """``"x.png [output]"`` → ``("x.png", <output folder>)``; no annotation: ``(name, None)``."""
    plain, kind = folders.split_annotation(name, "")
    return plain, (folders.get_directory(kind) if kind else None)


@_in_session
def get_annotated_filepath(name: str, default_dir: str | None = None) -> str:
    plain, kind = folders.split_annotation(name, "")
    if not kind and default_dir is not None:
        for candidate in folders.KINDS:
            if os.path.abspath(default_dir) == folders.get_directory(candidate):
                kind = candidate
    return folders.resolve(plain, kind or "input")


@_in_session
def exists_annotated_filepath(name: str) -> bool:
    return folders.exists_annotated_filepath(name)


@_in_session
def get_save_image_path(
    filename_prefix: str, output_dir: str | None = None, image_width: int = 0, image_height: int = 0
):
    """``(full_folder, filename, counter, subfolder, filename_prefix)``, as ComfyUI's: in
    ``output_dir`` (default the output folder), which the prefix may not leave."""
    temp = output_dir is not None and os.path.abspath(output_dir) == folders.get_temp_directory()
    return folders.get_save_image_path(
        filename_prefix, output_dir, image_width, image_height, "temp" if temp else "output"
    )


def add_model_folder_path(folder_name: str, full_folder_path: str, is_default: bool = False):
    folder_name = map_legacy(folder_name)
    paths, _ = folder_names_and_paths.setdefault(folder_name, ([], set(supported_pt_extensions)))
    if full_folder_path in paths:
        paths.remove(full_folder_path)
    if is_default:
        paths.insert(0, full_folder_path)
    else:
        paths.append(full_folder_path)


@_in_session
def get_folder_paths(folder_name: str) -> list[str]:
    folder_name = map_legacy(folder_name)
    added = folder_names_and_paths.get(folder_name, ([], set()))[0]
    return [os.path.join(files.models_dir(), folder_name), *added]


def _extensions(folder_name: str) -> set[str]:
    return folder_names_and_paths.get(map_legacy(folder_name), ([], set()))[1]


def filter_files_extensions(names, extensions) -> list[str]:
    extensions = {e.lower() for e in extensions}
    return sorted(
        n for n in names if not extensions or os.path.splitext(n)[1].lower() in extensions
    )


@_in_session
def get_filename_list(folder_name: str) -> list[str]:
    """The files of a model folder (all its paths), relative, sorted; [] for an unknown folder."""
    names: set[str] = set()
    for root in get_folder_paths(folder_name):
        # os.walk does not follow symbolic links to folders: the listing stays inside.
        for folder, _dirs, entries in os.walk(root):
            for entry in entries[: MAX_LISTED - len(names)]:
                names.add(os.path.relpath(os.path.join(folder, entry), root).replace(os.sep, "/"))
            if len(names) >= MAX_LISTED:
                break
    return filter_files_extensions(names, _extensions(folder_name))


@_in_session
def get_full_path(folder_name: str, filename: str) -> str | None:
    """The path of ``filename`` in a model folder, or None (also for a name reaching outside)."""
    if not isinstance(filename, str) or not filename:
        return None
    for root in get_folder_paths(folder_name):
        if folders.is_inside(root, filename):
            path = os.path.join(root, os.path.normpath(filename))
            if os.path.isfile(path):
                return path
    return None


def get_full_path_or_raise(folder_name: str, filename: str) -> str:
    path = get_full_path(folder_name, filename)
    if path is None:
        raise FileNotFoundError(f"model {filename!r} is not in the {folder_name!r} folders")
    return path
