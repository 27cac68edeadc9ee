"""Model files: safetensors checkpoints that carry their own architecture.

A Workbench model file is a ``.safetensors`` file whose (string) metadata holds:

- ``"architecture"``: a name registered in ``ARCHITECTURES`` (e.g. ``"PixelUNet"``);
- ``"config"``: the architecture's constructor config, as JSON;
- optionally more JSON entries (``"diffusion"``: how the model denoises,
  ``"training"``: how it was trained) that the loader hands back untouched.

No pickle anywhere: ``load_checkpoint`` memory-maps the file with
``safetensors.safe_open``, checks every tensor's name and shape against the
module that the config builds on PyTorch's ``meta`` device (shapes without
memory, so a config far bigger than its file allocates nothing), and only then
builds the module for real and copies the weights in. Every way a file can be
wrong raises ``ModelFileError`` with a message that says which file and what is
wrong with it.

Files can be hostile, so every JSON entry is bounded before it is parsed
(``MAX_JSON_CHARS`` long, ``MAX_JSON_DEPTH`` levels of nesting: Python's parser
recurses once per level), and the configs check each field's type and range
before anything is built from them (``UNetConfig``, ``DiffusionConfig``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from .unet import PixelUNet, UNetConfig

ARCHITECTURES: dict[str, Callable[[dict], nn.Module]] = {
    "PixelUNet": lambda config: PixelUNet(UNetConfig.from_dict(config)),
}
"""Architecture name → builder from the config dict. Register more with ``register_architecture``."""


def register_architecture(name: str, build: Callable[[dict], nn.Module]) -> None:
    ARCHITECTURES[name] = build


class ModelFileError(Exception):
    """A model file that is missing, truncated, or does not match its architecture."""


MAX_JSON_CHARS = 2**20  # a metadata entry; a config is a few hundred characters
MAX_JSON_DEPTH = 16  # a config nests two levels deep


def parse_json_entry(path: str, key: str, text: str):
    """The JSON value of the metadata entry ``key`` of the model file at ``path``.

    Raises ``ModelFileError`` (naming the file and the entry) for text that is
    too long or nested too deep (both checked before parsing), or not JSON.
    """
    if len(text) > MAX_JSON_CHARS:
        raise ModelFileError(
            f"model file {path}: its {key!r} metadata is {len(text):,} characters long, "
            f"more than {MAX_JSON_CHARS:,}"
        )
    if _nesting(text) > MAX_JSON_DEPTH:
        raise ModelFileError(
            f"model file {path}: its {key!r} metadata nests more than {MAX_JSON_DEPTH} levels deep"
        )
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ModelFileError(
            f"model file {path}: its {key!r} metadata is not JSON ({exc})"
        ) from exc


def _nesting(text: str) -> int:
    """How deep ``[`` and ``{`` nest in JSON text (brackets inside strings do not count)."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return 0  # too few to nest too deep: skip the scan (every real config)
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


@dataclass
class LoadedModel:
    module: nn.Module  # in eval mode, gradients off
    architecture: str
    config: dict
    metadata: dict[str, str] = field(default_factory=dict)  # the file's raw metadata
    path: str = ""  # the file it was loaded from

    def json(self, key: str, default=None):
        """A JSON entry of the metadata (e.g. ``"training"``), parsed; ``default`` if absent.

        Raises ``ModelFileError`` for an entry that is not JSON or beyond the bounds.
        """
        raw = self.metadata.get(key)
        return default if raw is None else parse_json_entry(self.path, key, raw)


def save_checkpoint(
    module: nn.Module,
    path: str | os.PathLike,
    architecture: str,
    config: dict,
    *,
    dtype: torch.dtype | None = torch.float16,
    extra: dict[str, object] | None = None,
) -> None:
    """Write ``module``'s weights and its architecture to ``path`` (extra entries as JSON)."""
    tensors = {
        k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).contiguous()
        for k, v in module.state_dict().items()
    }
    metadata = {"architecture": architecture, "config": json.dumps(config, sort_keys=True)}
    for key, value in (extra or {}).items():
        metadata[key] = json.dumps(value, sort_keys=True)
    save_file(tensors, os.fspath(path), metadata=metadata)


def load_checkpoint(path: str | os.PathLike, dtype: torch.dtype = torch.float32) -> LoadedModel:
    """Build the module described by the file at ``path`` and load its weights (as ``dtype``)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelFileError(f"model file not found: {path}")
    try:
        with safe_open(path, framework="pt") as f:
            metadata = dict(f.metadata() or {})
            with torch.device("meta"):
                skeleton, architecture, config = _build(path, metadata)
            _check_tensors(path, f, skeleton)
            module = ARCHITECTURES[architecture](config)  # as big as the file's tensors
            state = {name: f.get_tensor(name).to(dtype) for name in f.keys()}  # noqa: SIM118
    except SafetensorError as exc:
        size = os.path.getsize(path)
        raise ModelFileError(
            f"cannot read model file {path} ({size} bytes): truncated or not a "
            f"safetensors file ({exc})"
        ) from exc
    module.load_state_dict(state, strict=True)
    module.eval().requires_grad_(False)
    return LoadedModel(module, architecture, config, metadata, path)


def _build(path: str, metadata: dict[str, str]) -> tuple[nn.Module, str, dict]:
    architecture = metadata.get("architecture")
    if architecture is None:
        raise ModelFileError(
            f"model file {path} has no 'architecture' in its metadata, so it cannot be "
            f"built (a Workbench model file names its architecture and config; "
            f"metadata keys found: {sorted(metadata) or 'none'})"
        )
    build = ARCHITECTURES.get(architecture)
    if build is None:
        raise ModelFileError(
            f"model file {path} is for architecture {architecture!r}, which is not known "
            f"(known: {', '.join(sorted(ARCHITECTURES))})"
        )
    config = parse_json_entry(path, "config", metadata.get("config", "{}"))
    try:
        if not isinstance(config, dict):
            raise ValueError("the config is not a JSON object")
        module = build(config)
    except (ValueError, TypeError) as exc:
        raise ModelFileError(
            f"model file {path}: bad {architecture} config in its metadata: {exc}"
        ) from exc
    return module, architecture, config


def _check_tensors(path: str, f, module: nn.Module) -> None:
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    found = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    wrong = [
        f"{k}: file {list(found[k])}, model {list(expected[k])}"
        for k in sorted(set(found) & set(expected))
        if found[k] != expected[k]
    ]
    problems = []
    for title, items in (
        ("missing keys", missing),
        ("unexpected keys", unexpected),
        ("wrong shapes", wrong),
    ):
        if items:
            shown = ", ".join(items[:5]) + (
                f", ... ({len(items)} in all)" if len(items) > 5 else ""
            )
            problems.append(f"{title}: {shown}")
    if problems:
        raise ModelFileError(
            f"model file {path} does not match its architecture ({'; '.join(problems)}); "
            f"the weights were saved from a different architecture or config than the "
            f"metadata describes"
        )
