"""Workbench: ComfyUI's node-graph engine, living in a Jupyter kernel.

from workbench import Workbench
wb = Workbench.current()
g = wb.graph()
...
r = wb.run(g)
"""

from .graph import Graph, Node, Output
from .jobs import Job
from .results import RunResult
from .session import Workbench

__all__ = ["Graph", "Job", "Node", "Output", "RunResult", "Workbench"]
