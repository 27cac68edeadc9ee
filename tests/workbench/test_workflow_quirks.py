"""Corner cases of the workflow reader, each a small literal workflow: what the frontend
wrote at some point, or what a hostile file holds. Read with the built-in nodes."""

from __future__ import annotations

import pytest

from engine import NodeRegistry
from engine.workflow import read_workflow
from engine.workflow.jsondoc import MAX_NODES
from nodes import register_all
from workbench.graph import Graph


@pytest.fixture(scope="module")
def registry():
    reg = NodeRegistry()
    register_all(reg)
    return reg


def node(id, type, inputs=(), widgets=None, **more):
    entry = {"id": id, "type": type, "mode": 0, "inputs": list(inputs), "outputs": [], **more}
    if widgets is not None:
        entry["widgets_values"] = widgets
    return entry


def link_in(name, link, widget=False):
    entry = {"name": name, "type": "*", "link": link}
    if widget:
        entry["widget"] = {"name": name}
    return entry


def open_(document, registry):
    opened = read_workflow(document, registry, "test")
    graph = Graph.from_nodes(opened.nodes, registry, opened.document, opened.source)
    assert not opened.report.of_kind("internal")
    return graph.to_prompt(), opened.report


def subgraph(uuid, nodes, links, inputs=(), outputs=(), **more):
    return {
        "id": uuid,
        "name": uuid,
        "nodes": nodes,
        "links": links,
        "inputs": [{"name": n, "type": t} for n, t in inputs],
        "outputs": [{"name": n, "type": t} for n, t in outputs],
        **more,
    }


def sg_link(id, origin, origin_slot, target, target_slot):
    return {
        "id": id,
        "origin_id": origin,
        "origin_slot": origin_slot,
        "target_id": target,
        "target_slot": target_slot,
        "type": "*",
    }


BLUR_DEF = subgraph(
    "blur",
    [
        node(
            1, "ImageBlur", [link_in("image", 1), link_in("blur_radius", 2, widget=True)], [1, 2.5]
        ),
        node(2, "GenerateShapes", [], [8, 1, 5, "fixed"]),
    ],
    [sg_link(1, -10, 0, 1, 0), sg_link(2, -10, 1, 1, 1), sg_link(3, 1, 0, -20, 0)],
    inputs=[("image", "IMAGE"), ("blur_radius", "INT")],
    outputs=[("IMAGE", "IMAGE")],
)


def instance(id, properties, widgets, inputs=()):
    return node(
        id,
        "blur",
        list(inputs),
        widgets,
        properties=properties,
        outputs=[{"name": "IMAGE", "type": "IMAGE", "links": [9]}],
    )


@pytest.mark.parametrize(
    ("properties", "widgets", "radius", "seed", "issue"),
    [
        # proxyWidgets naming the subgraph input ("-1") and an inner widget with its control.
        (
            {
                "proxyWidgets": [
                    ["-1", "blur_radius"],
                    ["2", "seed"],
                    ["2", "control_after_generate"],
                ]
            },
            [7, 42, "increment"],
            7,
            42,
            None,
        ),
        # Lengths disagree (as in most real files): the inner values are the safe answer.
        ({"proxyWidgets": [["-1", "blur_radius"], ["2", "seed"]]}, [7], 1, 5, "unsupported"),
        # No proxyWidgets: one value per subgraph input that feeds a widget.
        ({}, [6], 6, 5, None),
        ({}, [None], 1, 5, None),  # a hole: the inner widget's own value
    ],
)
def test_promoted_widget_values(registry, properties, widgets, radius, seed, issue):
    document = {
        "nodes": [
            node(
                1,
                "EmptyImage",
                [],
                [8, 8, 1, 0],
                outputs=[{"name": "IMAGE", "type": "IMAGE", "links": [1]}],
            ),
            instance(5, properties, widgets, [link_in("image", 1)]),
            node(6, "PreviewImage", [link_in("images", 9)]),
        ],
        "links": [[1, 1, 0, 5, 0, "IMAGE"], [9, 5, 0, 6, 0, "IMAGE"]],
        "definitions": {"subgraphs": {"blur": BLUR_DEF}},  # a mapping, as some tools write it
        "version": 0.4,
    }
    prompt, report = open_(document, registry)
    assert prompt["5:1"]["inputs"] == {"image": ["1", 0], "blur_radius": radius, "sigma": 2.5}
    assert prompt["5:2"]["inputs"]["seed"] == seed
    assert prompt["6"]["inputs"]["images"] == ["5:1", 0]
    assert [i.kind for i in report.issues] == ([issue] if issue else [])


def test_a_subgraph_containing_itself_or_nested_too_deep_is_reported_not_expanded(registry):
    loop = subgraph("loop", [node(1, "loop", [])], [])
    document = {"nodes": [node(1, "loop", [])], "links": [], "definitions": {"subgraphs": [loop]}}
    prompt, report = open_(document, registry)
    assert prompt == {} and report.issues[0].kind == "unsupported"
    assert "contains itself" in report.issues[0].detail
    chain = [subgraph(f"s{i}", [node(1, f"s{i + 1}", [])], []) for i in range(40)]
    chain.append(subgraph("s40", [node(1, "EmptyImage", [], [8, 8, 1, 0])], []))
    document = {"nodes": [node(1, "s0", [])], "links": [], "definitions": {"subgraphs": chain}}
    prompt, report = open_(document, registry)
    assert prompt == {} and "nested deeper than" in report.issues[0].detail


def test_subgraph_instances_multiplying_past_the_node_limit_stop_with_a_report(registry):
    # Ten instances of a definition holding ten instances of ... five levels deep.
    levels = [subgraph("leaf", [node(i, "EmptyImage", [], [8, 8, 1, 0]) for i in range(10)], [])]
    for depth in range(5):
        inner = levels[-1]["id"]
        levels.append(subgraph(f"d{depth}", [node(i, inner, []) for i in range(10)], []))
    document = {
        "nodes": [node(i, levels[-1]["id"], []) for i in range(10)],
        "links": [],
        "definitions": {"subgraphs": levels},
    }
    opened = read_workflow(document, registry, "bomb")
    assert len(opened.nodes) == MAX_NODES
    assert any("more than" in i.detail for i in opened.report.of_kind("invalid"))


def test_reroute_cycles_dangling_links_and_bad_ids_are_reported(registry):
    document = {
        "nodes": [
            node(1, "Reroute", [link_in("", 2)], outputs=[{"name": "", "type": "*", "links": [1]}]),
            node(
                2, "Reroute", [link_in("", 1)], outputs=[{"name": "", "type": "*", "links": [2, 3]}]
            ),
            node(3, "PreviewImage", [link_in("images", 3)]),
            node(4, "PreviewImage", [link_in("images", 77)]),
            node(5, "PreviewImage", [link_in("images", 4)]),
            node(10**80, "EmptyImage", [], [8, 8, 1, 0]),
            node(6, "EmptyImage", [], [8, 8, 1, 0]),
            node(6, "EmptyImage", [], [9, 9, 1, 0]),
        ],
        "links": [
            [1, 1, 0, 2, 0, "*"],
            [2, 2, 0, 1, 0, "*"],
            [3, 2, 0, 3, 0, "*"],
            [4, 99, 0, 5, 0, "IMAGE"],
            ["x"],
            None,
        ],
    }
    prompt, report = open_(document, registry)
    assert prompt["3"]["inputs"] == {} and prompt["4"]["inputs"] == {}
    assert prompt["6"]["inputs"]["width"] == 8  # the first node of a duplicated id
    details = [(i.kind, i.node, i.detail) for i in report.issues]
    assert (
        "missing_link",
        "3",
        "input 'images': its link runs in a circle (through reroutes or subgraphs) (link dropped)",
    ) in details
    assert any(k == "missing_link" and n == "4" and "link 77 is not in" in d for k, n, d in details)
    assert any(k == "missing_link" and n == "5" and "node 99" in d for k, n, d in details)
    assert any(k == "invalid" and "no usable id" in d for k, _, d in details)
    assert any(k == "invalid" and "second node with id 6" in d for k, _, d in details)
    assert sum(1 for k, _, d in details if k == "invalid" and "is not a link" in d) == 2


def test_a_primitive_controlling_an_input_without_a_seed_policy_is_reported(registry):
    document = {
        "nodes": [
            node(
                1,
                "PrimitiveNode",
                [],
                [12, "increment"],
                outputs=[{"name": "INT", "type": "INT", "links": [1]}],
            ),
            node(2, "EmptyImage", [link_in("width", 1, widget=True)], [8, 8, 1, 0]),
        ],
        "links": [[1, 1, 0, 2, 0, "INT"]],
    }
    prompt, report = open_(document, registry)
    assert prompt["2"]["inputs"]["width"] == 12
    (issue,) = report.issues
    assert issue.kind == "unsupported" and "'increment' on input 'width'" in issue.detail


def test_unused_widget_values_are_reported_with_the_node(registry):
    document = {
        "nodes": [node(3, "ImageBlur", [], [2, 1.0, "extra", 9], title="Mine")],
        "links": [],
    }
    _, report = open_(document, registry)
    (issue,) = report.issues
    assert (issue.kind, issue.node, issue.title) == ("unused_values", "3", "Mine")
    assert "'extra', 9 match no input of ImageBlur" in issue.detail


def test_nodes_without_slots_take_their_links_from_the_link_table(registry):
    document = {
        "nodes": [
            {"id": 1, "type": "EmptyImage", "widgets_values": [8, 8, 1, 0]},
            {"id": 2, "type": "ImageBlur", "widgets_values": [2, 1.0]},
        ],
        "links": [
            {
                "id": 1,
                "origin_id": 1,
                "origin_slot": "0",
                "target_id": 2,
                "target_slot": "0",
                "type": "IMAGE",
                "parentId": 3,
            }
        ],
        "reroutes": [{"id": 3, "pos": [10, 10], "linkIds": [1]}],  # native: metadata only
    }
    prompt, report = open_(document, registry)
    assert prompt["2"]["inputs"]["image"] == ["1", 0] and report.ok


def test_a_legacy_group_node_with_an_input_from_outside(registry):
    group = {
        "nodes": [
            {
                "index": 0,
                "type": "ImageBlur",
                "inputs": [{"name": "image", "type": "IMAGE", "link": None}],
                "widgets_values": [1, 1.0],
            },
            {
                "index": 1,
                "type": "ImageInvert",
                "inputs": [{"name": "image", "type": "IMAGE", "link": None}],
            },
        ],
        "links": [[0, 0, 1, 0, 5, "IMAGE"]],
        "external": [],
    }
    document = {
        "nodes": [
            node(1, "EmptyImage", [], [8, 8, 1, 0]),
            node(2, "workflow>g", [link_in("image", 1)], [3, 0.5]),
            node(3, "PreviewImage", [link_in("images", 2)]),
        ],
        "links": [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "IMAGE"]],
        "extra": {"groupNodes": {"g": group}},
    }
    prompt, report = open_(document, registry)
    assert report.ok
    assert prompt["2:0"]["inputs"] == {"image": ["1", 0], "blur_radius": 3, "sigma": 0.5}
    assert prompt["2:1"]["inputs"] == {"image": ["2:0", 0]}
    assert prompt["3"]["inputs"] == {"images": ["2:1", 0]}


def test_group_node_values_that_cannot_be_spread_leave_the_inner_values(registry):
    group = {
        "nodes": [
            {"index": 0, "type": "EmptyImage", "widgets_values": [8, 8, 1, 0]},
            {
                "index": 1,
                "type": "PackNode",
                "inputs": [{"name": "image", "type": "IMAGE", "link": None}],
                "widgets_values": [0.5],
            },
        ],
        "links": [[0, 0, 1, 0, 5, "IMAGE"]],
    }
    document = {
        "nodes": [node(2, "workflow>g", [], [16, 16, 1, 0, 0.7])],
        "links": [],
        "extra": {"groupNodes": {"g": group}},
    }
    prompt, report = open_(document, registry)
    assert prompt["2:0"]["inputs"]["width"] == 8  # the unknown node's widgets cannot be counted
    kinds = sorted(i.kind for i in report.issues)
    assert kinds == ["unknown_type", "unsupported"]
    assert "do not line up" in report.of_kind("unsupported")[0].detail


class Broken:
    """A pack's node whose INPUT_TYPES() fails."""

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        raise RuntimeError("the pack's folder is missing")

    def run(self):
        return (None,)


def test_a_node_type_whose_input_types_fail_is_reported_not_fatal():
    reg = NodeRegistry()
    register_all(reg)
    reg.register(Broken, name="Broken")
    document = {
        "nodes": [
            node(1, "Broken", [], [1]),
            node(2, "PreviewImage", [link_in("images", 1)]),
            node(3, "workflow>g", [], [3]),
        ],
        "links": [[1, 1, 0, 2, 0, "IMAGE"]],
        "extra": {"groupNodes": {"g": {"nodes": [{"index": 0, "type": "Broken"}], "links": []}}},
    }
    prompt, report = open_(document, reg)
    assert prompt["2"]["inputs"] == {"images": ["1", 0]}
    assert report.of_kind("unsupported")[0].node == "1"


def test_wrappers_and_media_files_are_recognised(registry):
    workflow = {"nodes": [node(1, "EmptyImage", [], [8, 8, 1, 0])], "links": []}
    prompt = {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 4, "height": 4, "batch_size": 1, "color": 0},
        }
    }
    body = {
        "prompt": prompt,
        "client_id": "x",
        "extra_data": {"extra_pnginfo": {"workflow": workflow}},
    }
    assert open_(body, registry)[0]["1"]["inputs"]["width"] == 8  # the workflow, with its layout
    assert open_({"prompt": prompt}, registry)[0]["1"]["inputs"]["width"] == 4
    assert open_({"workflow": workflow}, registry)[0]["1"]["inputs"]["width"] == 8
    opened = read_workflow(b"RIFF\x10\x00\x00\x00WEBPVP8 ", registry, "cat.webp")
    assert opened.report.issues[0].detail.startswith("it is a WebP file")


class Tags:
    """A node whose widget holds a list (a multi-select COMBO)."""

    RETURN_TYPES = ("STRING",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"tags": (["a", "b", "c"], {"multi_select": True}), "sep": ("STRING", {})}
        }

    def run(self, tags, sep):
        return (sep.join(tags),)


def test_a_list_widget_value_is_wrapped_in_the_prompt_and_written_back_as_a_list():
    from engine.workflow import write_workflow

    reg = NodeRegistry()
    register_all(reg)
    reg.register(Tags, name="Tags")
    document = {"nodes": [node(1, "Tags", [], [["a", "c"], ","])], "links": []}
    opened = read_workflow(document, reg, "tags")
    graph = Graph.from_nodes(opened.nodes, reg, opened.document, opened.source)
    assert graph.to_prompt()["1"]["inputs"] == {"tags": {"__value__": ["a", "c"]}, "sep": ","}
    graph.node("1").set(sep=";")
    workflow, _ = write_workflow(graph.node_records(), graph.document, reg, graph.opened_from)
    assert workflow["nodes"][0]["widgets_values"] == [["a", "c"], ";"]
    graph._nodes["1"]["inputs"]["tags"] = {"__value__": ["b"]}  # as an editor would set it
    workflow, _ = write_workflow(graph.node_records(), graph.document, reg, graph.opened_from)
    assert workflow["nodes"][0]["widgets_values"] == [["b"], ";"]
