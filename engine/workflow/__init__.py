"""ComfyUI's graph formats as pure data: UI workflows, API prompts, PNG metadata, modes.

Nothing here imports Jupyter or an image library. ``docs/workflow-format.md``
is the design; the modules, one concept each:

- ``read``: the entry point, ``read_workflow`` / ``read_workflow_file`` -> ``Opened``;
- ``convert``: a UI workflow (0.4, 1.0) into node records; ``api``: an API prompt;
- ``widgets``: ``widgets_values`` <-> named inputs; ``modes``: mute and bypass;
- ``write``: node records as a UI workflow; ``api.write_api``: as an API prompt;
- ``report``: what could not be converted; ``source``: what a graph was read from;
- ``png``: PNG text chunks; ``jsondoc``: bounded JSON; ``layout``: automatic layout.
"""

from .api import write_api
from .jsondoc import DocumentError, dump_json
from .layout import layered_layout
from .modes import ALWAYS, BYPASS, MODES, NEVER, apply_modes
from .png import PngError, embed_png_text, read_png_text
from .read import Opened, read_workflow, read_workflow_file
from .report import Issue, Report
from .source import Source
from .write import write_workflow

__all__ = [
    "ALWAYS",
    "BYPASS",
    "MODES",
    "NEVER",
    "DocumentError",
    "Issue",
    "Opened",
    "PngError",
    "Report",
    "Source",
    "apply_modes",
    "dump_json",
    "embed_png_text",
    "layered_layout",
    "read_png_text",
    "read_workflow",
    "read_workflow_file",
    "write_api",
    "write_workflow",
]
