"""A V1 test pack: node expansion, ExecutionBlocker, a ProgressBar, send_sync, folder_paths."""

import os

import comfy.model_management
import comfy.utils
import folder_paths
from comfy.comfy_types import IO, ComfyNodeABC, InputTypeDict
from comfy_execution.graph import ExecutionBlocker
from comfy_execution.graph_utils import GraphBuilder
from server import PromptServer

from nodes import MAX_RESOLUTION

from .helpers import fill  # packs import their own modules relatively

WEB_DIRECTORY = "./web"


@PromptServer.instance.routes.get("/workbench_test_v1/hello")
async def hello(request):
    return None


class TestV1Fill(ComfyNodeABC):
    """An image of one value, made in `steps` steps with a progress bar and a preview."""

    CATEGORY = "test/v1"
    RETURN_TYPES = (IO.IMAGE,)
    FUNCTION = "make"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypeDict:
        return {
            "required": {
                "width": (IO.INT, {"default": 4, "min": 1, "max": MAX_RESOLUTION}),
                "height": (IO.INT, {"default": 4, "min": 1, "max": MAX_RESOLUTION}),
                "value": (IO.FLOAT, {"default": 0.5, "min": 0.0, "max": 1.0}),
                "steps": (IO.INT, {"default": 3, "min": 1, "max": 100}),
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    def make(self, width, height, value, steps, unique_id=None):
        bar = comfy.utils.ProgressBar(steps)
        for step in range(steps):
            comfy.model_management.throw_exception_if_processing_interrupted()
            image = fill(width, height, value * (step + 1) / steps)
            bar.update_absolute(step + 1, steps, preview=image)
        PromptServer.instance.send_sync(
            "workbench_test_v1.filled", {"node": unique_id, "value": value}
        )
        return (image,)


class TestV1InvertTimes:
    """Expands into `times` built-in ImageInvert nodes in a chain."""

    CATEGORY = "test/v1"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "expand"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",), "times": ("INT", {"default": 2, "min": 0})}}

    def expand(self, image, times):
        if times == 0:
            return (image,)
        graph = GraphBuilder()
        current = image
        for _ in range(times):
            current = graph.node("ImageInvert", image=current).out(0)
        return {"result": (current,), "expand": graph.finalize()}


class TestV1Gate:
    """Passes the image on, or blocks everything downstream."""

    CATEGORY = "test/v1"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "gate"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE",),
                "open": ("BOOLEAN", {"default": True}),
                "message": ("STRING", {"default": ""}),
            }
        }

    def gate(self, image, open, message):
        return (image if open else ExecutionBlocker(message or None),)


class TestV1WriteNote:
    """Writes a text file into the output folder (found through folder_paths)."""

    CATEGORY = "test/v1"
    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "write"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",), "text": ("STRING", {"default": "hi"})}}

    def write(self, image, text):
        folder, name, counter, subfolder, _ = folder_paths.get_save_image_path(
            "notes/note", folder_paths.get_output_directory()
        )
        file = f"{name}_{counter:05}_.txt"
        with open(os.path.join(folder, file), "w") as f:
            f.write(f"{text} {tuple(image.shape)}")
        return {"ui": {"text": [file]}}


class TestV1Stop:
    """Interrupts the run it is in, as a pack's cancel button would."""

    CATEGORY = "test/v1"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "stop"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",)}}

    def stop(self, image):
        comfy.model_management.interrupt_current_processing()
        comfy.model_management.throw_exception_if_processing_interrupted()
        return (image,)


NODE_CLASS_MAPPINGS = {
    "TestV1Fill": TestV1Fill,
    "TestV1InvertTimes": TestV1InvertTimes,
    "TestV1Gate": TestV1Gate,
    "TestV1WriteNote": TestV1WriteNote,
    "TestV1Stop": TestV1Stop,
}
NODE_DISPLAY_NAME_MAPPINGS = {"TestV1Fill": "Fill (test V1)"}
