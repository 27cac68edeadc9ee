"""What a workflow reader could not convert or run, as one structured report.

Reading never raises: whatever cannot be converted is left out of the prompt
(or kept as a placeholder) and named here. ``Report.issues`` is the full list;
``repr(report)`` and ``report._repr_html_()`` show a short table, with the
unknown node types grouped one row per type.

Issue kinds:

- ``unknown_type``: a node type this registry lacks (``pack``: the node pack the
  workflow names, from ``properties.cnr_id`` or ``aux_id``);
- ``unused_values``: widget values that match no input of the node's type;
- ``missing_link``: a link to a node or output that is not there (dropped);
- ``unsupported``: a feature we read but do not carry out;
- ``invalid``: a part of the file we skipped (a node without an id...);
- ``file``: nothing could be read (not JSON, not a workflow, too big...).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

__all__ = ["KINDS", "Issue", "Report"]

KINDS = ("file", "unknown_type", "missing_link", "unused_values", "unsupported", "invalid")
_LABELS = {
    "file": "unreadable",
    "unknown_type": "unknown type",
    "missing_link": "missing link",
    "unused_values": "unused values",
    "unsupported": "unsupported",
    "invalid": "skipped",
    "internal": "reader error",
}
MAX_ISSUES = 1000  # a hostile file can produce a problem per node; the count stays exact


@dataclass(frozen=True)
class Issue:
    """One thing not converted. ``node``: the node id in the graph (execution id)."""

    kind: str
    detail: str = ""
    node: str | None = None
    class_type: str | None = None
    title: str | None = None
    pack: str | None = None


@dataclass
class Report:
    """The outcome of reading one workflow (see the module docstring)."""

    source: str = "<workflow>"
    format: str = "unknown"  # "workflow 0.4", "workflow 1.0", "api", "png (workflow 0.4)"...
    nodes: int = 0  # nodes of the graph (placeholders included)
    runnable: int = 0  # nodes of a known type, not virtual
    issues: list[Issue] = field(default_factory=list)
    dropped: int = 0  # issues beyond MAX_ISSUES, counted only

    def add(self, kind: str, detail: str = "", **where) -> None:
        if len(self.issues) >= MAX_ISSUES:
            self.dropped += 1
            return
        self.issues.append(Issue(kind, detail, **where))

    @property
    def ok(self) -> bool:
        """True if everything was read and converted."""
        return not self.issues and not self.dropped

    def of_kind(self, kind: str) -> list[Issue]:
        return [issue for issue in self.issues if issue.kind == kind]

    @property
    def unknown_types(self) -> dict[str, list[str]]:
        """Unknown node type -> the ids of its nodes, in file order."""
        types: dict[str, list[str]] = {}
        for issue in self.of_kind("unknown_type"):
            types.setdefault(issue.class_type or "?", []).append(issue.node or "?")
        return types

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(kind, nodes, type or title, detail) rows of the table."""
        rows = []
        grouped: dict[str, int] = {}
        for issue in self.issues:
            if issue.kind == "unknown_type":
                key = issue.class_type or "?"
                if key in grouped:
                    kind, nodes, what, detail = rows[grouped[key]]
                    rows[grouped[key]] = (kind, f"{nodes}, {issue.node}", what, detail)
                    continue
                grouped[key] = len(rows)
                detail = f"pack {issue.pack}" if issue.pack else issue.detail
                rows.append((_LABELS["unknown_type"], issue.node or "", key, detail))
                continue
            what = issue.class_type or ""
            if issue.title and issue.title != issue.class_type:
                what = f"{what} ({issue.title})" if what else issue.title
            rows.append((_LABELS.get(issue.kind, issue.kind), issue.node or "", what, issue.detail))
        return rows

    def summary(self) -> str:
        count = len(self.issues) + self.dropped
        state = "everything converted" if self.ok else f"{count} issue{'s' * (count != 1)}"
        return (
            f"{self.source} ({self.format}): {self.nodes} nodes, {self.runnable} runnable, {state}"
        )

    def __repr__(self) -> str:
        lines = [self.summary()]
        rows = self.rows()
        if rows:
            header = ("kind", "node", "type", "detail")
            shown = [header, *[tuple(_short(c, 60) for c in row) for row in rows[:50]]]
            widths = [max(len(row[i]) for row in shown) for i in range(3)]
            for row in shown:
                lines.append(
                    "  "
                    + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False))
                    + "  "
                    + row[3]
                )
            if len(rows) > 50 or self.dropped:
                lines.append(f"  ... {len(rows) - 50 + self.dropped} more")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = self.rows()
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(_short(c, 200))}</td>" for c in row) + "</tr>"
            for row in rows[:200]
        )
        table = (
            "<table><thead><tr><th>kind</th><th>node</th><th>type</th><th>detail</th></tr>"
            f"</thead><tbody>{body}</tbody></table>"
            if rows
            else ""
        )
        return f"<div><b>{html.escape(self.summary())}</b>{table}</div>"


def _short(text: str, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."
