"""Workbench's execution engine: ComfyUI-style node graphs, cached by input signature.

Knows nothing of Jupyter, widgets or images: usable from a script, a test or a server.
"""

from .caches import CacheEntry
from .events import Event
from .executor import ExecutionResult, Executor, InterruptProcessing
from .fingerprint import register_fingerprint
from .graph import DynamicPrompt, ExecutionBlocker, GraphBuilder, Link, is_link
from .nodedef import Hidden, Image, Input, IOType, Latent, Mask, NodeOutput, Range, Tensor, node
from .registry import NodeRegistry, NodeType
from .validation import ValidationResult, validate_prompt

__all__ = [
    "CacheEntry",
    "DynamicPrompt",
    "Event",
    "ExecutionBlocker",
    "ExecutionResult",
    "Executor",
    "GraphBuilder",
    "Hidden",
    "IOType",
    "Image",
    "Input",
    "InterruptProcessing",
    "Latent",
    "Link",
    "Mask",
    "NodeOutput",
    "NodeRegistry",
    "NodeType",
    "Range",
    "Tensor",
    "ValidationResult",
    "is_link",
    "node",
    "register_fingerprint",
    "validate_prompt",
]
