"""Workbench's execution engine: ComfyUI-style node graphs, cached by input signature.

Knows nothing of Jupyter, widgets or images: usable from a script, a test or a server.
"""

from .caches import CacheEntry
from .events import Event
from .executor import ExecutionResult, Executor, InterruptProcessing
from .fingerprint import register_fingerprint
from .graph import DynamicPrompt, ExecutionBlocker, GraphBuilder, Link, is_link
from .history import History
from .nodedef import Hidden, Image, Input, IOType, Latent, Mask, NodeOutput, Range, Tensor, node
from .queue import Job, PromptQueue
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
    "History",
    "IOType",
    "Image",
    "Input",
    "InterruptProcessing",
    "Job",
    "Latent",
    "Link",
    "Mask",
    "NodeOutput",
    "NodeRegistry",
    "NodeType",
    "PromptQueue",
    "Range",
    "Tensor",
    "ValidationResult",
    "is_link",
    "node",
    "register_fingerprint",
    "validate_prompt",
]
