"""Hostile workflows never crash the reader (docs/workflow-format.md, "Report, never raise").

Hypothesis takes the test workflows and breaks them: keys dropped, values of the
wrong type, dangling link ids, links making cycles, huge ids, values that are not
JSON at all. Reading must return a graph and a report with no reader error, the
graph must give a prompt that validates without raising, and saving it unchanged
must give back the document as read.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import NodeRegistry, validate_prompt
from engine.workflow import read_png_text, read_workflow, write_workflow
from engine.workflow.jsondoc import plain_json
from engine.workflow.png import PngError
from nodes import register_all
from workbench.graph import Graph

FIXTURES = Path(__file__).parent / "workflows"
DOCUMENTS = {p.name: json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json"))}
FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

REGISTRY = NodeRegistry()
register_all(REGISTRY)


class Opaque:
    """A value JSON cannot hold."""


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([10**60, -1, -10, -20, 2**53 + 1, float("nan"), float("inf"), 1.5, 0.0]),
    st.text(max_size=8),
    st.sampled_from(
        [
            "-10",
            "-20",
            "0",
            "1:2",
            "workflow>blur_invert",
            "Reroute",
            "PrimitiveNode",
            "fixed",
            "randomize",
            "*",
            "IMAGE",
            "x" * 300,
        ]
    ),
)
NON_JSON = st.sampled_from([Opaque(), b"bytes", {1, 2}, (1, "2"), complex(1, 2), Ellipsis])
VALUES = st.recursive(
    st.one_of(SCALARS, NON_JSON),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=8,
)


def _containers(document) -> list:
    """Every dict and list in the document, outermost first."""
    found, stack = [], [document]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            found.append(value)
            stack.extend(value.values())
        elif isinstance(value, list):
            found.append(value)
            stack.extend(value)
    return found


def _nodes(document) -> list:
    nodes = document.get("nodes") if isinstance(document, dict) else None
    return [n for n in nodes if isinstance(n, dict)] if isinstance(nodes, list) else []


def _links(document) -> list | None:
    links = document.get("links") if isinstance(document, dict) else None
    return links if isinstance(links, list) else None


@st.composite
def mutated(draw):
    name = draw(st.sampled_from(sorted(DOCUMENTS)))
    document = json.loads(json.dumps(DOCUMENTS[name]))
    for _ in range(draw(st.integers(1, 6))):
        containers = _containers(document)
        target = containers[draw(st.integers(0, len(containers) - 1))]
        action = draw(st.sampled_from(["drop", "replace", "dangle", "cycle", "huge", "copy"]))
        if action in ("dangle", "cycle", "huge") and _links(document) is not None:
            links = _links(document)
            if action == "dangle":
                links.append([draw(st.integers(-5, 10**6)), 10**9, 0, 1, 0, "IMAGE"])
            elif action == "cycle":  # every node feeding the first one: cycles
                nodes = _nodes(document)
                for index, node in enumerate(nodes[1:], start=1):
                    links.append([900 + index, node.get("id"), 0, nodes[0].get("id"), 0, "IMAGE"])
                    inputs = nodes[0].get("inputs")
                    if isinstance(inputs, list) and inputs and isinstance(inputs[0], dict):
                        inputs[0]["link"] = 900 + index
            else:
                nodes = _nodes(document)
                if nodes:
                    nodes[0]["id"] = draw(st.sampled_from([10**40, 2**63, -(10**20), "9" * 80]))
            continue
        if isinstance(target, dict) and target:
            key = draw(st.sampled_from(sorted(target)))
            if action == "drop":
                del target[key]
            elif action == "copy" and isinstance(target[key], list) and target[key]:
                target[key].append(target[key][0])
            else:
                target[key] = draw(VALUES)
        elif isinstance(target, list) and target:
            index = draw(st.integers(0, len(target) - 1))
            if action == "drop":
                del target[index]
            elif action == "copy":
                target.append(target[index])
            else:
                target[index] = draw(VALUES)
    return name, document


@FUZZ
@given(mutated())
def test_a_broken_workflow_reads_into_a_graph_and_a_report(case):
    name, document = case
    opened = read_workflow(document, REGISTRY, name)
    assert not opened.report.of_kind("internal"), opened.report.of_kind("internal")
    graph = Graph.from_nodes(opened.nodes, REGISTRY, opened.document, opened.source)
    prompt = graph.to_prompt()
    result = validate_prompt(prompt, REGISTRY)
    assert result.ok in (True, False)
    repr(opened.report)
    opened.report._repr_html_()
    if opened.source is not None and opened.source.kind == "workflow":
        workflow, notes = write_workflow(
            graph.node_records(), graph.document, REGISTRY, graph.opened_from
        )
        assert not notes
        as_read = plain_json(document)
        assert json.dumps(workflow, sort_keys=True) == json.dumps(as_read, sort_keys=True)


@FUZZ
@given(mutated(), st.data())
def test_a_broken_workflow_takes_edits_and_saves_without_raising(case, data):
    name, document = case
    opened = read_workflow(document, REGISTRY, name)
    graph = Graph.from_nodes(opened.nodes, REGISTRY, opened.document, opened.source)
    ids = list(graph)
    removed = set()
    for node_id in (
        data.draw(st.lists(st.sampled_from(ids), max_size=3, unique=True)) if ids else []
    ):
        action = data.draw(st.sampled_from(["remove", "move", "mode", "value"]))
        if action == "remove":
            graph.remove(node_id)
            removed.add(node_id)
        elif action == "move":
            graph.set_ui(node_id, pos=[1.0, 2.0], title="moved")
        elif action == "mode":
            graph.set_mode(node_id, data.draw(st.sampled_from(["mute", "bypass", "always"])))
        elif graph.node(node_id).ui.get("virtual") is None and graph._runs(node_id):
            spec = REGISTRY.get(graph.node(node_id).class_type).spec()
            for declared in spec.widgets:
                if declared.type == "INT":
                    graph.node(node_id).set(**{declared.name: 3})
                    break
    workflow, _ = write_workflow(graph.node_records(), graph.document, REGISTRY, graph.opened_from)
    reopened = read_workflow(workflow, REGISTRY, name)
    assert not reopened.report.of_kind("internal")
    # A removed top-level node is gone from the file (unless the file held its id twice:
    # the second node, skipped when reading, is kept as it was).
    ids_in_file = [json.dumps(n.get("id")) for n in _nodes(plain_json(document))]
    twice = {json.loads(i) for i in ids_in_file if ids_in_file.count(i) > 1}
    top_level = {n for n in removed if opened.source and len(opened.source.where[n]) == 2}
    gone = {n for n in top_level if n not in {str(t) for t in twice}}
    assert not gone & {r["id"] for r in reopened.nodes}


PNG = (FIXTURES / "basic_0_4.json").read_bytes()


@pytest.fixture(scope="module")
def png_bytes(tmp_path_factory) -> bytes:
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("workflow", PNG.decode(), zip=True)
    info.add_itxt("prompt", "{}", zip=True)
    path = tmp_path_factory.mktemp("png") / "w.png"
    Image.new("RGB", (2, 2)).save(path, pnginfo=info)
    return path.read_bytes()


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_a_damaged_png_gives_its_text_or_a_png_error(png_bytes, data):
    damaged = bytearray(png_bytes)
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(damaged) - 1))
        damaged[position] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        damaged = damaged[: data.draw(st.integers(0, len(damaged)))]
    try:
        texts = read_png_text(bytes(damaged))
    except PngError:
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in texts.items())
    opened = read_workflow(bytes(damaged), REGISTRY, "damaged.png")
    assert not opened.report.of_kind("internal")
