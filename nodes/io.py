"""Images in and out of the folders: LoadImage, SaveImage, PreviewImage, MaskPreview, PreviewAny,
ImageCompare.

As ComfyUI's nodes of these names. A saved PNG carries the graph that made it:
a ``prompt`` tEXt chunk (the API prompt as JSON) and one chunk per key of the
run's ``extra_pnginfo`` (the editor puts its ``workflow`` there), so dropping
the PNG back into an editor reopens the graph. A constant JSON cannot hold (a
tensor passed from the kernel) is written as a stand-in (``metadata_json``), so
saving never fails on the graph's content.

File names are checked twice: ``VALIDATE_INPUTS`` rejects a name or prefix
reaching outside its folder before anything runs (a validation error that names
the problem), and the node resolves it again when it runs, because a linked
value is only known then.
"""

from __future__ import annotations

import hashlib
import json
import os
import random

import numpy as np
import torch
from PIL import Image, ImageOps, ImageSequence
from PIL.PngImagePlugin import PngInfo

from engine.history import jsonable

from . import folders
from .mask import mask_to_image


class LoadImage:
    DESCRIPTION = (
        "Loads an image from the input directory. Outputs the image (RGB) and a mask from its "
        "alpha channel, as ComfyUI: mask = 1 - alpha, so transparent pixels are 1. An animated "
        "file loads as a batch of its frames (frames of another size are skipped). Reruns when "
        "the file's content changes. Differences from ComfyUI: an image without alpha gives a "
        "zero mask of the image's size (ComfyUI gives a 64x64 one), and a file that would "
        "decode to more than 179 M pixels, all frames together, is refused before decoding."
    )
    CATEGORY = "image"
    RETURN_TYPES = ("IMAGE", "MASK")
    RETURN_NAMES = ("IMAGE", "MASK")
    OUTPUT_TOOLTIPS = ("The image, [B,H,W,3] in 0..1.", "1 - alpha, [B,H,W].")
    FUNCTION = "load_image"
    RUNS_IN_KERNEL = True  # the input folder is the kernel's (on a Dask cluster too)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": (
                    folders.list_files("input"),
                    {
                        "image_upload": True,
                        "tooltip": "A file in the input directory (a name like 'a.png [output]' "
                        "reads from the output directory instead).",
                    },
                )
            }
        }

    def load_image(self, image: str):
        path = folders.get_annotated_filepath(image)
        return load_image_file(path)

    @classmethod
    def IS_CHANGED(cls, image):
        digest = hashlib.sha256()
        with open(folders.get_annotated_filepath(image), "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    @classmethod
    def VALIDATE_INPUTS(cls, image):
        if image is None:  # linked: checked when it runs
            return True
        name, kind = folders.split_annotation(image)
        try:
            path = folders.resolve(name, kind)
        except folders.PathEscapeError as exc:  # its message is problem_with_name's
            return f"Invalid image file: {exc}"
        if not os.path.isfile(path):
            return f"Invalid image file: {image!r} is not a file in the {kind} directory"
        return True


MAX_LOAD_PIXELS = 178_956_970
"""The most pixels LoadImage decodes from one file, all frames together: the most
PIL opens in one frame (twice its default ``Image.MAX_IMAGE_PIXELS``), so every
single image PIL opens still loads, and an animation may hold e.g. 170 frames of
1024×1024 or 86 of 1920×1080. The outputs take 16 bytes a pixel (IMAGE float32 RGB,
MASK float32): 2.9 GB at the bound. It is checked from the file's header, before
any frame is decoded: an animated GIF or APNG decodes every frame at the full
canvas size, however small the frame stored, so a file of a few KB can declare
billions of pixels. PIL's own check of a single frame still applies when the file
is opened (a file above it is refused the same way)."""


class ImageTooLargeError(ValueError):
    """An image file that would decode to more pixels than LoadImage allows."""


def load_image_file(path: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(IMAGE ``[B,H,W,3]``, MASK ``[B,H,W]``) of an image file, as LoadImage outputs them.

    Raises ``ImageTooLargeError`` for a file beyond PIL's single-frame bound or
    ``MAX_LOAD_PIXELS`` in all, before decoding it.
    """
    try:
        img = Image.open(path)
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"image file {path} is too large to load: {exc}") from exc
    with img:
        # An MPO's second frame is the other eye's view of a stereo pair, not a batch.
        frames = [img] if img.format == "MPO" else ImageSequence.Iterator(img)
        count = 1 if img.format == "MPO" else getattr(img, "n_frames", 1)
        width, height = img.size
        _check_pixels(path, count * width * height, f"{count} frames of {width}x{height}")
        # Frames are kept as 8-bit arrays until all are read (4 bytes a pixel, not 16).
        rgbs: list[np.ndarray] = []
        alphas: list[np.ndarray | None] = []
        size = None
        decoded = 0
        for frame in frames:
            # The frames of some formats (TIFF pages) differ in size: count each one.
            decoded += frame.width * frame.height
            _check_pixels(path, decoded, "its frames counted one by one")
            frame = ImageOps.exif_transpose(frame)
            if frame.mode == "I":  # 32-bit integer images: ComfyUI scales them by 1/255
                frame = frame.point(lambda v: v * (1 / 255))
            rgb = frame.convert("RGB")
            if size is None:
                size = rgb.size
            elif rgb.size != size:
                continue
            rgbs.append(np.asarray(rgb))
            if "A" in frame.getbands():
                alphas.append(np.asarray(frame.getchannel("A")))
            elif frame.mode == "P" and "transparency" in frame.info:
                alphas.append(np.asarray(frame.convert("RGBA").getchannel("A")))
            else:
                alphas.append(None)
    images = np.empty((len(rgbs), size[1], size[0], 3), dtype=np.float32)
    masks = np.zeros((len(rgbs), size[1], size[0]), dtype=np.float32)
    for i in reversed(range(len(rgbs))):  # popping frees each frame's array once copied
        images[i] = rgbs.pop()
        alpha = alphas.pop()
        if alpha is not None:
            masks[i] = 1.0 - alpha.astype(np.float32) / 255.0
    images /= 255.0
    return torch.from_numpy(images), torch.from_numpy(masks)


def _check_pixels(path: str, pixels: int, what: str) -> None:
    if pixels > MAX_LOAD_PIXELS:
        raise ImageTooLargeError(
            f"image file {path} would decode to {pixels:,} pixels ({what}), more than "
            f"LoadImage loads from one file ({MAX_LOAD_PIXELS:,}, nodes.io.MAX_LOAD_PIXELS)"
        )


def to_pil(image: torch.Tensor) -> Image.Image:
    """One ``[H,W,C]`` image in 0..1 as an 8-bit PIL image (values truncated, as ComfyUI)."""
    array = np.clip(255.0 * image.detach().to("cpu", torch.float32).numpy(), 0, 255)
    array = array.astype(np.uint8)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    return Image.fromarray(array)


def png_metadata(prompt: dict | None, extra_pnginfo: dict | None) -> PngInfo:
    """The tEXt chunks ComfyUI writes: ``prompt``, then one per key of ``extra_pnginfo``."""
    metadata = PngInfo()
    if prompt is not None:
        metadata.add_text("prompt", metadata_json(prompt))
    for key, value in (extra_pnginfo or {}).items():
        metadata.add_text(key, metadata_json(value))
    return metadata


STAND_IN_KEY = "__workbench_value__"


def metadata_json(value) -> str:
    """``value`` as JSON text for a PNG chunk; never fails on its content.

    What JSON holds is written as ComfyUI writes it (``json.dumps``, so NaN and
    infinity as ``NaN``/``Infinity``). A graph built in a kernel can hold any
    value as a constant: numpy/torch scalars are written as numbers, sets as
    lists, and anything else (a tensor, an array, a PIL image, a dataclass)
    as ``{"__workbench_value__": "<short description>"}``: a marker saying what
    was there (the value itself is not in the file), never a look-alike value.
    Keys JSON cannot hold, a cycle, or nesting too deep for the encoder make
    the whole value go through the history's ``jsonable`` instead (values JSON
    cannot hold as summary strings, non-finite floats as ``"nan"``/``"inf"``).
    """
    try:
        return json.dumps(value, default=_stand_in)
    except (TypeError, ValueError, RecursionError):
        return json.dumps(jsonable(value))


def _stand_in(value):
    safe = jsonable(value)  # a number for a scalar, a list for a set, else a summary
    return {STAND_IN_KEY: safe} if isinstance(safe, str) else safe


class _ImageWriter:
    """Writes a batch as numbered PNGs into a folder and reports them as ``ui`` images."""

    RUNS_IN_KERNEL = True  # the kernel's folders, where the notebook shows them from
    kind = "output"  # the folder, and the "type" reported to the UI
    prefix_append = ""
    compress_level = 4

    def save_images(self, images, filename_prefix="ComfyUI", prompt=None, extra_pnginfo=None):
        filename_prefix += self.prefix_append
        folder, filename, counter, subfolder, _ = folders.get_save_image_path(
            filename_prefix, None, images[0].shape[1], images[0].shape[0], kind=self.kind
        )
        metadata = png_metadata(prompt, extra_pnginfo)
        results = []
        for batch_number, image in enumerate(images):
            name = filename.replace("%batch_num%", str(batch_number))
            picture = to_pil(image)
            while True:  # never overwrite a file another run saved meanwhile
                file = f"{name}_{counter:05}_.png"
                try:
                    with open(os.path.join(folder, file), "xb") as f:
                        picture.save(
                            f, format="PNG", pnginfo=metadata, compress_level=self.compress_level
                        )
                    break
                except FileExistsError:
                    counter += 1
            results.append({"filename": file, "subfolder": subfolder, "type": self.kind})
            counter += 1
        return {"ui": {"images": results}, "result": ()}


def _temp_suffix() -> str:
    # ComfyUI's previews add five random letters, so two previews never share names.
    return "_temp_" + "".join(random.choice("abcdefghijklmnopqrstupvxyz") for _ in range(5))


class SaveImage(_ImageWriter):
    DESCRIPTION = (
        "Saves the input images to the output directory as PNG files named "
        "'<prefix>_<counter:05>_.png', with the prompt and workflow in the PNG's text chunks "
        "(as ComfyUI writes them), and shows them."
    )
    CATEGORY = "image"
    RETURN_TYPES = ()
    FUNCTION = "save_images"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The images to save."}),
                "filename_prefix": (
                    "STRING",
                    {
                        "default": "ComfyUI",
                        "tooltip": "The prefix for the file to save. It may include "
                        "subfolders of the output directory and %width%, %height%, %year%, "
                        "%month%, %day%, %hour%, %minute%, %second%.",
                    },
                ),
            },
            "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
        }

    @classmethod
    def VALIDATE_INPUTS(cls, filename_prefix):
        if filename_prefix is None:  # linked: checked when it runs
            return True
        return folders.problem_with_save_prefix(filename_prefix) or True


class PreviewImage(_ImageWriter):
    DESCRIPTION = "Shows the images: saves them as PNGs in the temp directory (type 'temp')."
    CATEGORY = "image"
    RETURN_TYPES = ()
    FUNCTION = "save_images"
    OUTPUT_NODE = True
    kind = "temp"
    compress_level = 1

    def __init__(self):
        self.prefix_append = _temp_suffix()

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"images": ("IMAGE", {"tooltip": "The images to preview."})},
            "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
        }


class MaskPreview(PreviewImage):
    DESCRIPTION = "Shows a mask as a grey image (1 = white), saved in the temp directory."
    CATEGORY = "mask"
    FUNCTION = "execute"
    compress_level = 4  # as ComfyUI's MaskPreview: SaveImage's level, not PreviewImage's 1

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"mask": ("MASK", {"tooltip": "The mask to preview."})},
            "hidden": super().INPUT_TYPES()["hidden"],
        }

    def execute(self, mask, filename_prefix="ComfyUI", prompt=None, extra_pnginfo=None):
        return self.save_images(mask_to_image(mask), filename_prefix, prompt, extra_pnginfo)


class ImageCompare:
    DESCRIPTION = (
        "Shows two images to compare (the editor lays one over the other with a slider): "
        "saves each as a preview in the temp directory and reports them as a_images and "
        "b_images. Difference from ComfyUI: its compare_view widget is an optional input."
    )
    CATEGORY = "image"
    EXPERIMENTAL = True
    RETURN_TYPES = ()
    FUNCTION = "execute"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {},
            "optional": {
                "image_a": ("IMAGE", {"tooltip": "The first image (A)."}),
                "image_b": ("IMAGE", {"tooltip": "The second image (B)."}),
                # ComfyUI's view widget: no value reaches the node. Optional here, so
                # that a prompt without it (as ComfyUI's frontend sends it) validates.
                "compare_view": (
                    "IMAGECOMPARE",
                    {"socketless": True, "tooltip": "The comparison view (no value)."},
                ),
            },
        }

    def execute(self, image_a=None, image_b=None, compare_view=None):
        ui = {"a_images": [], "b_images": []}
        for key, images, prefix in (
            ("a_images", image_a, "comfy.compare.a"),
            ("b_images", image_b, "comfy.compare.b"),
        ):
            if images is not None and len(images) > 0:
                ui[key] = PreviewImage().save_images(images, prefix)["ui"]["images"]
        return {"ui": ui, "result": ()}


class PreviewAny:
    DESCRIPTION = (
        "Shows any value as text: strings as they are, numbers and booleans with str(), "
        "other values as JSON when they can be, else with str()."
    )
    CATEGORY = "utils"
    RETURN_TYPES = ()
    FUNCTION = "main"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"source": ("*", {"tooltip": "The value to show."})}}

    def main(self, source=None):
        return {"ui": {"text": [preview_text(source)]}, "result": ()}


def preview_text(source) -> str:
    """The text PreviewAny shows for ``source`` (ComfyUI's rules)."""
    if source is None:
        return "None"
    if isinstance(source, str):
        return source
    if isinstance(source, (int, float, bool)):
        return str(source)
    try:
        return json.dumps(source)
    except Exception:
        try:
            return str(source)
        except Exception:
            return "source exists, but could not be serialized."


NODE_CLASS_MAPPINGS = {
    "LoadImage": LoadImage,
    "SaveImage": SaveImage,
    "PreviewImage": PreviewImage,
    "MaskPreview": MaskPreview,
    "PreviewAny": PreviewAny,
    "ImageCompare": ImageCompare,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "LoadImage": "Load Image",
    "SaveImage": "Save Image",
    "PreviewImage": "Preview Image",
    "MaskPreview": "Preview Mask",
    "PreviewAny": "Preview Any",
    "ImageCompare": "Image Compare",
}
