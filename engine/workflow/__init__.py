"""ComfyUI's graph formats as pure data: modes and bypass, UI workflows, API prompts, PNG metadata.

Nothing here imports Jupyter or an image library.
"""

from .modes import ALWAYS, BYPASS, MODES, NEVER, apply_modes

__all__ = ["ALWAYS", "BYPASS", "MODES", "NEVER", "apply_modes"]
