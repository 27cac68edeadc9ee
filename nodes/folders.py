"""The input, output and temp folders, like ComfyUI's ``folder_paths``, and safe names in them.

Nodes name files relative to a folder: ``LoadImage`` reads ``"cat.png"`` from
the input folder, ``SaveImage`` writes ``"<prefix>_00001_.png"`` into the output
folder (the prefix may hold subfolders), previews go to the temp folder. A name
comes from a prompt, which may come from anyone's workflow file, so every name
is resolved with :func:`resolve`, which refuses names that would reach outside
their folder: absolute paths, ``..`` climbing out, and symbolic links whose
target lies outside.

Folder locations are a ``Folders`` value, read when used, not when imported.
Each session has its own: ``using(folders)`` makes them the current ones for
the code inside (a ``Workbench`` applies its folders to its registry's calls
and to its runs, through ``NodeRegistry.context``), so two sessions in one
process never write into each other's folders, and a run carries its folders
wherever it runs. Outside any ``using``, the process default applies, set by
``configure`` (or the ``WORKBENCH_DATA_DIR`` environment variable). Defaults::

    base   = $WORKBENCH_DATA_DIR or ".workbench"   (relative to the working dir)
    input  = base/input     output = base/output     temp = base/temp
    models = base/models

Names follow ComfyUI where node packs call them (``get_input_directory``,
``get_annotated_filepath``, ``get_save_image_path``...).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

from engine.history import default_data_dir

__all__ = [
    "IMAGE_EXTENSIONS",
    "Folders",
    "PathEscapeError",
    "active",
    "configure",
    "current",
    "exists_annotated_filepath",
    "get_annotated_filepath",
    "get_base_directory",
    "get_directory",
    "get_input_directory",
    "get_output_directory",
    "get_save_image_path",
    "get_temp_directory",
    "is_inside",
    "list_files",
    "problem_with_name",
    "problem_with_save_prefix",
    "resolve",
    "split_annotation",
    "using",
]

KINDS = ("input", "output", "temp")
IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".avif"}
)


class PathEscapeError(ValueError):
    """A file name that would resolve outside the folder it must stay in."""


@dataclass(frozen=True)
class Folders:
    """Where a session's files live; a folder not given is ``base/<kind>``.

    ``base`` None means the default data folder ($WORKBENCH_DATA_DIR or
    ``.workbench``), read when used. Folders are created when something is
    written into them, never by reading.
    """

    base: str | None = None
    input: str | None = None
    output: str | None = None
    temp: str | None = None
    models: str | None = None

    def base_directory(self) -> str:
        return os.path.abspath(self.base if self.base is not None else default_data_dir())

    def directory(self, kind: str) -> str:
        """The absolute path of the ``"input"``, ``"output"``, ``"temp"`` or ``"models"`` folder."""
        if kind not in (*KINDS, "models"):
            raise ValueError(f"unknown folder {kind!r}: expected one of {', '.join(KINDS)}")
        path = getattr(self, kind)
        return (
            os.path.abspath(path) if path is not None else os.path.join(self.base_directory(), kind)
        )


_default = Folders()  # the process's, outside any ``using``
_active: contextvars.ContextVar[Folders | None] = contextvars.ContextVar("folders", default=None)


def configure(
    base_dir: str | os.PathLike | None = None,
    input_dir: str | os.PathLike | None = None,
    output_dir: str | os.PathLike | None = None,
    temp_dir: str | os.PathLike | None = None,
    models_dir: str | os.PathLike | None = None,
) -> None:
    """Set the process's default folders; each one not given is ``base_dir/<kind>``.

    Replaces the whole default: ``configure()`` restores the built-in one. A
    session's own folders (``using``) take precedence where they apply.
    """
    global _default
    _default = Folders(
        _str(base_dir), _str(input_dir), _str(output_dir), _str(temp_dir), _str(models_dir)
    )


def active() -> Folders | None:
    """The folders of the innermost ``using``; None outside any (the process default applies)."""
    return _active.get()


def current() -> Folders:
    """The folders that apply here: the innermost ``using``, else the process default."""
    active = _active.get()
    return active if active is not None else _default


@contextlib.contextmanager
def using(folders: Folders) -> Iterator[Folders]:
    """Make ``folders`` the current folders for the code inside (this thread or task)."""
    token = _active.set(folders)
    try:
        yield folders
    finally:
        _active.reset(token)


def _str(path: str | os.PathLike | None) -> str | None:
    return None if path is None else os.fspath(path)


def get_base_directory() -> str:
    """The absolute path of the current data folder (see ``Folders``)."""
    return current().base_directory()


def get_directory(kind: str) -> str:
    """The absolute path of the current ``"input"``, ``"output"`` or ``"temp"`` folder."""
    if kind not in KINDS:
        raise ValueError(f"unknown folder {kind!r}: expected one of {', '.join(KINDS)}")
    return current().directory(kind)


def get_input_directory() -> str:
    return get_directory("input")


def get_output_directory() -> str:
    return get_directory("output")


def get_temp_directory() -> str:
    return get_directory("temp")


# --- safe names ---


def problem_with_name(name: object, kind: str = "input") -> str | None:
    """Why ``name`` cannot name a file inside the ``kind`` folder, or None if it can.

    The file need not exist. Messages name the problem so a validation error
    tells the user what to fix.
    """
    if not isinstance(name, str):
        return f"expected a file name, got {type(name).__name__}"
    if not name:
        return "the file name is empty"
    return _outside(get_directory(kind), name, kind, repr(name))


def _outside(
    root: str, name: str, kind: str, what: str, real_root: str | None = None
) -> str | None:
    """Why ``root/name`` is not inside ``root`` (``what`` names ``name`` in the message).

    ``real_root`` is ``os.path.realpath(root)``, for a caller checking many names.
    """
    folder = f"the {kind} directory"
    if "\x00" in name:
        return f"{what} contains a NUL character"
    if os.path.isabs(name) or os.path.splitdrive(name)[0] or name.startswith(("/", "\\")):
        return f"{what} is an absolute path; it must be relative to {folder}"
    normalized = os.path.normpath(name)
    if normalized == os.pardir or normalized.startswith(os.pardir + os.sep):
        return f"{what} uses '..' to reach outside {folder}"
    # Symbolic links are followed as the operating system will when the file is opened.
    if real_root is None:
        real_root = os.path.realpath(root)
    real = os.path.realpath(os.path.join(root, normalized))
    if os.path.commonpath([real_root, real]) != real_root:
        return f"{what} resolves through a symbolic link to {real}, which is outside {folder}"
    return None


def is_inside(root: str, name: str) -> bool:
    """Whether the file ``name`` names in the folder ``root`` stays inside it (the checks above)."""
    return isinstance(name, str) and bool(name) and _outside(root, name, "", repr(name)) is None


def resolve(name: str, kind: str = "input") -> str:
    """The absolute path of ``name`` inside the ``kind`` folder.

    Raises ``PathEscapeError`` for a name reaching outside the folder (see
    ``problem_with_name``). The path is not required to exist.
    """
    problem = problem_with_name(name, kind)
    if problem is not None:
        raise PathEscapeError(problem)
    return os.path.join(get_directory(kind), os.path.normpath(name))


def split_annotation(name: str, default_kind: str = "input") -> tuple[str, str]:
    """``"cat.png [output]"`` → ``("cat.png", "output")``, as ComfyUI's annotated names."""
    for kind in KINDS:
        suffix = f" [{kind}]"
        if name.endswith(suffix):
            return name[: -len(suffix)], kind
    return name, default_kind


def get_annotated_filepath(name: str, default_kind: str = "input") -> str:
    """The path of an (optionally annotated) name, resolved safely in its folder."""
    name, kind = split_annotation(name, default_kind)
    return resolve(name, kind)


def exists_annotated_filepath(name: str) -> bool:
    try:
        return os.path.isfile(get_annotated_filepath(name))
    except PathEscapeError:
        return False


def list_files(kind: str = "input", extensions: frozenset[str] | None = IMAGE_EXTENSIONS) -> list:
    """Sorted names of the files at the top of the ``kind`` folder (as ComfyUI's LoadImage).

    Only files with one of ``extensions`` (None: any) and that resolve inside
    the folder are listed. A missing folder lists nothing (and is not created).
    """
    root = get_directory(kind)
    try:
        entries = os.listdir(root)
    except (FileNotFoundError, NotADirectoryError):
        return []
    real_root = os.path.realpath(root)
    names = []
    for entry in entries:
        if extensions is not None and os.path.splitext(entry)[1].lower() not in extensions:
            continue
        # An entry is a non-empty str, so problem_with_name's check is _outside's.
        if (
            os.path.isfile(os.path.join(root, entry))
            and _outside(root, entry, kind, repr(entry), real_root) is None
        ):
            names.append(entry)
    return sorted(names)


# --- save paths ---


def _substitute(prefix: str, width: int, height: int) -> str:
    """ComfyUI's server-side prefix variables (%width%, %year%...)."""
    now = time.localtime()
    for key, value in (
        ("%width%", str(width)),
        ("%height%", str(height)),
        ("%year%", str(now.tm_year)),
        ("%month%", str(now.tm_mon).zfill(2)),
        ("%day%", str(now.tm_mday).zfill(2)),
        ("%hour%", str(now.tm_hour).zfill(2)),
        ("%minute%", str(now.tm_min).zfill(2)),
        ("%second%", str(now.tm_sec).zfill(2)),
    ):
        prefix = prefix.replace(key, value)
    return prefix


def problem_with_save_prefix(prefix: object, kind: str = "output") -> str | None:
    """Why files saved under ``prefix`` would land outside the ``kind`` folder, or None."""
    if not isinstance(prefix, str):
        return f"expected a filename prefix, got {type(prefix).__name__}"
    if "%" in prefix:
        prefix = _substitute(prefix, 0, 0)
    return _outside(get_directory(kind), prefix or ".", kind, repr(prefix))


def get_save_image_path(
    filename_prefix: str,
    output_dir: str | None = None,
    image_width: int = 0,
    image_height: int = 0,
    kind: str = "output",
) -> tuple[str, str, int, str, str]:
    """Where to save: ``(full_folder, filename, counter, subfolder, filename_prefix)``.

    As ComfyUI: the prefix may contain subfolders and ``%width%``-style variables;
    the counter is one more than the highest ``<filename>_<digits>_`` already in
    the folder (1 for a new folder, which is created). ``output_dir`` defaults to
    the ``kind`` folder; a prefix reaching outside it raises ``PathEscapeError``.
    """
    if output_dir is None:
        output_dir = get_directory(kind)
    if "%" in filename_prefix:
        filename_prefix = _substitute(filename_prefix, image_width, image_height)
    normalized = os.path.normpath(filename_prefix)
    subfolder = os.path.dirname(normalized)
    filename = os.path.basename(normalized)
    problem = _outside(output_dir, normalized, kind, f"filename_prefix {filename_prefix!r}")
    if problem is not None:
        raise PathEscapeError(problem)
    full_folder = os.path.join(output_dir, subfolder)
    os.makedirs(full_folder, exist_ok=True)
    counter = next_counter(full_folder, filename)
    return full_folder, filename, counter, subfolder, filename_prefix


def next_counter(folder: str, filename: str) -> int:
    """1 + the highest counter of the files ``<filename>_<digits>_...`` in ``folder``."""
    highest = 0
    wanted = os.path.normcase(filename + "_")
    for entry in os.listdir(folder):
        if os.path.normcase(entry[: len(wanted)]) != wanted:
            continue
        digits = entry[len(wanted) :].split("_")[0]
        if digits.isdigit():  # ComfyUI counts other names as 0
            highest = max(highest, int(digits))
    return highest + 1
