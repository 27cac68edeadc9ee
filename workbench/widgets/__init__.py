"""The graph editor (an anywidget on LiteGraph) and its Run & Stop controls (ipywidgets).

``wb.editor(g)`` returns an ``Editor``: the controls bar and the ``GraphEditor``
canvas, both views of the one ``Graph`` ``g``. The kernel ↔ canvas protocol is
``docs/editor-protocol.md``; the JavaScript source is ``js/``, bundled into
``static/`` by ``build.mjs`` (``npm run build`` here).
"""

from .controls import Editor
from .editor import GraphEditor

__all__ = ["Editor", "GraphEditor"]
