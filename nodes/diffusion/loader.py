"""The model loader node, and ``DiffusionModel``: what a DIFFUSION_MODEL link carries.

The loader keeps what it loaded in its node instance (the engine's objects
cache keeps one instance per node id across runs), keyed by the file's path,
size and modification time: re-running a graph never reads the file again,
while a file replaced on disk is loaded afresh. ``IS_CHANGED`` returns the same
stamp, so the outputs cache reruns the loader (and what follows) exactly when
the file changed.
"""

from __future__ import annotations

import os

import torch

from .checkpoint import LoadedModel, ModelFileError, load_checkpoint
from .files import DEFAULT_MODEL, find_model, list_models, search_dirs
from .schedule import DiffusionConfig, alphas_cumprod


class DiffusionModel:
    """A denoising network with the noise schedule it was trained with.

    ``model(x_t, t)`` runs the network on ``x_t`` ([B, C, H, W], -1..1) at integer
    timesteps ``t`` [B]; it outputs ε or v as ``diffusion.prediction`` says
    (``schedule.x0_estimate`` turns either into x̂₀). ``abar`` is ᾱ_t, t = 0..T-1.
    """

    def __init__(self, network: torch.nn.Module, diffusion: DiffusionConfig, name: str = ""):
        self.network = network
        self.diffusion = diffusion
        self.name = name
        self.abar = alphas_cumprod(diffusion).float()
        config = getattr(network, "config", None)
        self.channels: int = getattr(config, "in_channels", 3)
        levels = len(getattr(config, "channels", (0,)))
        self.size_multiple: int = 2 ** (levels - 1)  # H and W must be multiples of it
        self.image_size: int = getattr(config, "image_size", 32)  # the size it was trained at

    @classmethod
    def from_checkpoint(cls, loaded: LoadedModel, name: str = "") -> DiffusionModel:
        """The model with the schedule of the file's ``diffusion`` entry (checked first)."""
        try:
            diffusion = DiffusionConfig.from_dict(loaded.json("diffusion", {}))
        except (ValueError, TypeError) as exc:
            raise ModelFileError(
                f"model file {loaded.path or name or loaded.architecture}: "
                f"bad 'diffusion' metadata: {exc}"
            ) from exc
        return cls(loaded.module, diffusion, name)

    @property
    def timesteps(self) -> int:
        return self.diffusion.timesteps

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.network(x, t)

    def __repr__(self) -> str:
        params = sum(p.numel() for p in self.network.parameters())
        return (
            f"DiffusionModel({self.name or type(self.network).__name__}, "
            f"{params:,} parameters, T={self.timesteps}, {self.diffusion.schedule} schedule)"
        )


def load_diffusion_model(path: str | os.PathLike, name: str = "") -> DiffusionModel:
    """Load a model file (see ``checkpoint.py``) as a ``DiffusionModel``."""
    return DiffusionModel.from_checkpoint(load_checkpoint(path), name or os.path.basename(path))


def _not_found(model_name: str) -> str:
    """The error for a name no search folder holds (at validation and when it runs)."""
    return f"model file {model_name!r} not found in {' or '.join(search_dirs())}"


def file_stamp(path: str) -> str:
    """What identifies a file's version cheaply: size and modification time (ns)."""
    st = os.stat(path)
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"


class SafetensorsModelLoader:
    DESCRIPTION = (
        "Loads a model from a .safetensors file in the models folder (or the weights shipped "
        "with Workbench). The file's metadata names its architecture and config, so any "
        "registered architecture loads without code; no pickle is ever read. The loaded model "
        "stays in memory for this node across runs and is read again only when the file "
        "changes. A missing, truncated or mismatched file is a clear error."
    )
    CATEGORY = "loaders"
    RETURN_TYPES = ("DIFFUSION_MODEL",)
    RETURN_NAMES = ("model",)
    OUTPUT_TOOLTIPS = ("The denoising network with its noise schedule.",)
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        names = list_models()
        default = DEFAULT_MODEL if DEFAULT_MODEL in names else (names[0] if names else "")
        return {
            "required": {
                "model_name": (
                    names,
                    {
                        "default": default,
                        "tooltip": "A .safetensors file in the models folder "
                        "(models/ in the data directory) or a shipped model.",
                    },
                )
            }
        }

    @classmethod
    def VALIDATE_INPUTS(cls, model_name):
        if model_name is None:  # linked: not known yet; ``load`` checks it when it runs
            return True
        if find_model(model_name) is None:
            return _not_found(model_name)
        return True

    @classmethod
    def IS_CHANGED(cls, model_name):
        path = find_model(model_name)
        return "missing" if path is None else f"{path}:{file_stamp(path)}"

    def __init__(self):
        self._loaded: tuple[str, str, DiffusionModel] | None = None  # (path, stamp, model)

    def load(self, model_name):
        path = find_model(model_name)
        if path is None:
            raise ModelFileError(_not_found(model_name))
        stamp = file_stamp(path)
        if self._loaded is not None and self._loaded[:2] == (path, stamp):
            return (self._loaded[2],)
        self._loaded = None  # drop the old model before loading the new one
        model = load_diffusion_model(path, model_name)
        self._loaded = (path, stamp, model)
        return (model,)
