"""The teaching diffusion pipeline: a safetensors model loader, a sampler, the forward process.

A ~1M-parameter pixel-space U-Net (``unet.py``) trained on generated shapes
(``shapes.py``) by ``python -m nodes.diffusion.train``; its weights ship in
``weights/``. Model files carry their architecture in their metadata
(``checkpoint.py``); ``schedule.py`` holds the noise schedule and the DDPM/DDIM
update. Nodes:

    SafetensorsModelLoader → DIFFUSION_MODEL
    EmptyPixelLatent / PixelLatentFromImage → LATENT → DiffusionSampler → IMAGE
    DiffusionAddNoise (the forward process), ImageGrid, GenerateShapes
"""

from .checkpoint import ModelFileError, load_checkpoint, save_checkpoint
from .images import GenerateShapes, ImageGrid
from .loader import DiffusionModel, SafetensorsModelLoader, load_diffusion_model
from .sampling import DiffusionAddNoise, DiffusionSampler, EmptyPixelLatent, PixelLatentFromImage

__all__ = [
    "NODE_CLASS_MAPPINGS",
    "NODE_DISPLAY_NAME_MAPPINGS",
    "DiffusionModel",
    "ModelFileError",
    "load_checkpoint",
    "load_diffusion_model",
    "save_checkpoint",
]

NODE_CLASS_MAPPINGS = {
    "SafetensorsModelLoader": SafetensorsModelLoader,
    "EmptyPixelLatent": EmptyPixelLatent,
    "PixelLatentFromImage": PixelLatentFromImage,
    "DiffusionSampler": DiffusionSampler,
    "DiffusionAddNoise": DiffusionAddNoise,
    "ImageGrid": ImageGrid,
    "GenerateShapes": GenerateShapes,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "SafetensorsModelLoader": "Load Model (safetensors)",
    "EmptyPixelLatent": "Empty Latent (pixel space)",
    "PixelLatentFromImage": "Image to Latent (pixel space)",
    "DiffusionSampler": "Diffusion Sampler (DDIM/DDPM)",
    "DiffusionAddNoise": "Add Noise (forward process)",
    "ImageGrid": "Image Grid",
    "GenerateShapes": "Generate Shapes",
}
