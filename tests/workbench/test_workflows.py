"""ComfyUI workflows in and out: each test workflow converts to its expected API prompt,
runs with the built-in nodes, and saves back to itself (docs/workflow-format.md).

The workflows are in ``workflows/``, written for these tests in the shapes ComfyUI's
frontend wrote over the years (0.4 from 2023 on, 1.0, subgraphs, group nodes).
"""

import json
import shutil
from pathlib import Path

import pytest

from engine.workflow import read_png_text
from workbench import Workbench

FIXTURES = Path(__file__).parent / "workflows"
JSON_FIXTURES = sorted(p.name for p in FIXTURES.glob("*.json"))


@pytest.fixture
def wb(tmp_path):
    session = Workbench(data_dir=tmp_path / "data", persist=False)
    yield session
    session.close()


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def canonical(value) -> str:
    """JSON compared as data: key order ignored, NaN equal to NaN."""
    return json.dumps(value, sort_keys=True, allow_nan=True)


def saved(wb, graph, name="saved.json", **kwargs) -> dict:
    return json.loads(wb.save(graph, name, **kwargs).read_text())


# --- converting: every quirk of point 1 and 2, compared with the API prompt ---

EXPECTED = {
    "basic_0_4.json": {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 64, "height": 48, "batch_size": 1, "color": 0},
        },
        "2": {
            "class_type": "ImageBlur",
            "inputs": {"image": ["1", 0], "blur_radius": 3, "sigma": 1.5},
        },
        "3": {
            "class_type": "SaveImage",
            "inputs": {"images": ["2", 0], "filename_prefix": "basic"},
        },
        # Needs the unknown pack node 4: left dangling, so only this output fails.
        "5": {"class_type": "PreviewImage", "inputs": {"images": ["4", 0]}},
    },
    "modes_1_0.json": {
        "1": {"class_type": "GenerateShapes", "inputs": {"size": 32, "batch_size": 2, "seed": 77}},
        # ImageInvert 2 is bypassed: same slot, same type.
        "3": {
            "class_type": "SaveImage",
            "inputs": {"images": ["1", 0], "filename_prefix": "bypassed"},
        },
        "4": {
            "class_type": "SafetensorsModelLoader",
            "inputs": {"model_name": "shapes32.safetensors"},
        },
        # DiffusionAddNoise 5 is bypassed: its slot 0 input is a DIFFUSION_MODEL, so the
        # IMAGE output resolves to its input of that exact type.
        "6": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
        # ImageBlur 7 is muted: its consumer keeps a dangling link, validation names it.
        "8": {"class_type": "PreviewImage", "inputs": {"images": ["7", 0]}},
        "9": {
            "class_type": "EmptyImage",
            "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 16777215},
        },
    },
    "subgraphs_1_0.json": {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 24, "height": 24, "batch_size": 1, "color": 8421504},
        },
        # Instance 10 of "Soften and invert": its promoted blur_radius is 4, sigma the
        # definition's; the nested "Invert" subgraph flattens to 10:2:1.
        "10:1": {
            "class_type": "ImageBlur",
            "inputs": {"image": ["1", 0], "blur_radius": 4, "sigma": 2.5},
        },
        "10:2:1": {"class_type": "ImageInvert", "inputs": {"image": ["10:1", 0]}},
        "3": {
            "class_type": "SaveImage",
            "inputs": {"images": ["10:2:1", 0], "filename_prefix": "subgraph"},
        },
        "11:1": {
            "class_type": "ImageBlur",
            "inputs": {"image": ["1", 0], "blur_radius": 2, "sigma": 2.5},
        },
        "11:2:1": {"class_type": "ImageInvert", "inputs": {"image": ["11:1", 0]}},
        "12": {"class_type": "ImageToMask", "inputs": {"image": ["11:2:1", 0], "channel": "red"}},
        # Subgraph instance 13 is bypassed: its slot 0 input is a MASK, so its IMAGE
        # output resolves by type to its "image" input.
        "14": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
        "15": {"class_type": "PreviewImage", "inputs": {"images": ["11:2:1", 0]}},
    },
    "group_node_0_4.json": {
        # Group node instances: ids <instance>:<index>; the instance's widget values
        # spread over the inner widgets in order.
        "5:0": {
            "class_type": "EmptyImage",
            "inputs": {"width": 32, "height": 24, "batch_size": 1, "color": 0},
        },
        "5:1": {
            "class_type": "ImageBlur",
            "inputs": {"image": ["5:0", 0], "blur_radius": 4, "sigma": 2.0},
        },
        "5:2": {"class_type": "ImageInvert", "inputs": {"image": ["5:1", 0]}},
        "6:0": {
            "class_type": "EmptyImage",
            "inputs": {"width": 8, "height": 8, "batch_size": 2, "color": 16777215},
        },
        "6:1": {
            "class_type": "ImageBlur",
            "inputs": {"image": ["6:0", 0], "blur_radius": 1, "sigma": 0.5},
        },
        "6:2": {"class_type": "ImageInvert", "inputs": {"image": ["6:1", 0]}},
        "7": {
            "class_type": "SaveImage",
            "inputs": {"images": ["5:2", 0], "filename_prefix": "group"},
        },
        "8": {"class_type": "PreviewImage", "inputs": {"images": ["6:2", 0]}},
    },
    "primitives_reroutes_0_4.json": {
        # PrimitiveNode 1 feeds width and height (widgets converted to inputs); the
        # sparse widgets_values' hole (color) takes the default.
        "2": {
            "class_type": "EmptyImage",
            "inputs": {"width": 40, "height": 40, "batch_size": 1, "color": 0},
        },
        # Through the reroute chain 3 -> 4; a hole for blur_radius.
        "5": {
            "class_type": "ImageBlur",
            "inputs": {"image": ["2", 0], "blur_radius": 1, "sigma": 0.5},
        },
        # Dict-shaped widgets_values.
        "6": {
            "class_type": "ImageScaleBy",
            "inputs": {"image": ["2", 0], "upscale_method": "bilinear", "scale_by": 0.5},
        },
        # widgets_values_named wins over the list.
        "7": {
            "class_type": "ImageBlend",
            "inputs": {
                "image1": ["5", 0],
                "image2": ["10", 0],
                "blend_factor": 0.75,
                "blend_mode": "multiply",
            },
        },
        # PrimitiveNode 8's value and control go to the seed.
        "9": {
            "class_type": "GenerateShapes",
            "inputs": {"size": 40, "batch_size": 1, "seed": 1234},
        },
        "10": {
            "class_type": "ImageScale",
            "inputs": {
                "image": ["9", 0],
                "upscale_method": "nearest-exact",
                "width": 40,
                "height": 40,
                "crop": "disabled",
            },
        },
        "11": {
            "class_type": "SaveImage",
            "inputs": {"images": ["7", 0], "filename_prefix": "primitives"},
        },
        "12": {"class_type": "PreviewImage", "inputs": {"images": ["6", 0]}},
    },
    "legacy_2023.json": {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 20, "height": 20, "batch_size": 1, "color": 255},
        },
        # Bypassed DiffusionAddNoise with only its image linked; links without a type.
        "3": {
            "class_type": "SaveImage",
            "inputs": {"images": ["1", 0], "filename_prefix": "legacy"},
        },
    },
    "api_prompt.json": {
        "3": {
            "class_type": "EmptyImage",
            "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": 0},
        },
        "4": {
            "class_type": "ImageBlur",
            "inputs": {"image": ["3", 0], "blur_radius": 2, "sigma": 1.0},
        },
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "api"}},
        "7": {"class_type": "PreviewImage", "inputs": {"images": ["6", 0]}},
        "8": {"class_type": "PreviewImage", "inputs": {}},  # its link to a missing node dropped
    },
}

# The seed policies (control after generate) the graph takes from the workflow.
SEEDS = {
    "modes_1_0.json": {"1": {"seed": "increment"}, "5": {"seed": "fixed"}},
    "primitives_reroutes_0_4.json": {"9": {"seed": "randomize"}},
    "legacy_2023.json": {"2": {"seed": "fixed"}},
}

# (kind, node) of every report issue; outputs that fail validation, and why.
ISSUES = {
    "basic_0_4.json": [("unknown_type", "4")],
    "api_prompt.json": [("unknown_type", "6"), ("missing_link", "8")],
}
FAILING = {
    "basic_0_4.json": {"5"},
    "modes_1_0.json": {"8"},
    "api_prompt.json": {"7", "8"},
}


def test_every_fixture_has_an_expected_prompt():
    assert sorted(EXPECTED) == JSON_FIXTURES


@pytest.mark.parametrize("name", JSON_FIXTURES)
def test_fixture_converts_to_its_api_prompt_and_runs(wb, name):
    graph, report = wb.open(FIXTURES / name)
    assert canonical(graph.to_prompt()) == canonical(EXPECTED[name])
    assert graph.seed_control() == SEEDS.get(name, {})
    assert [(i.kind, i.node) for i in report.issues] == ISSUES.get(name, [])
    r = wb.run(graph, progress=False)
    assert r.status == "success"
    failing = set(r.result.node_errors or {}) if r.result else set()
    assert failing == FAILING.get(name, set())
    ran = r.result.executed
    assert ran and not ran & failing


def test_unknown_types_name_their_pack_and_the_report_prints_as_a_table(wb):
    _, report = wb.open(FIXTURES / "basic_0_4.json")
    (issue,) = report.issues
    assert (issue.class_type, issue.pack, issue.node) == ("FancyUpscale", "comfyui-fancy-pack", "4")
    assert report.unknown_types == {"FancyUpscale": ["4"]}
    text = repr(report)
    assert text.splitlines()[0] == "basic_0_4.json (workflow 0.4): 7 nodes, 4 runnable, 1 issue"
    assert "FancyUpscale" in text and "pack comfyui-fancy-pack" in text
    assert "<td>FancyUpscale</td>" in report._repr_html_()


def test_layout_and_virtual_nodes_are_kept_for_the_editor(wb):
    graph, _ = wb.open(FIXTURES / "basic_0_4.json")
    ui = graph.node("1").ui
    assert ui["pos"] == [50, 80] and ui["size"] == [315, 130]  # {"0":..,"1":..} read as pairs
    assert ui["color"] == "#223" and ui["properties"]["cnr_id"] == "comfy-core"
    assert graph.node("2").ui["title"] == "Soften"
    assert graph.node("6").ui["virtual"] == "note"
    assert graph.node("4").ui["widgets_values"] == [2.0, "lanczos", [1, 2, 3]]
    assert graph.document["groups"][0]["title"] == "Main"
    assert graph.document["models"][0]["name"] == "fancy.safetensors"
    sub, _ = wb.open(FIXTURES / "subgraphs_1_0.json")
    assert sub.node("10").ui["virtual"] == "subgraph"
    assert sub.node("10:1").ui["parent"] == "10" and sub.node("10:2:1").ui["parent"] == "10:2"


# --- saving: round trips and edits written back where they came from ---


@pytest.mark.parametrize("name", [n for n in JSON_FIXTURES if n != "api_prompt.json"])
def test_a_workflow_opened_and_saved_unchanged_equals_the_original(wb, name):
    graph, _ = wb.open(FIXTURES / name)
    assert canonical(saved(wb, graph)) == canonical(load(name))


def test_an_api_prompt_round_trips(wb):
    graph, _ = wb.open(FIXTURES / "api_prompt.json")
    assert saved(wb, graph, "again.api.json") == load("api_prompt.json")
    graph.node("4").set(blur_radius=5)
    prompt = saved(wb, graph, "edited.json", api=True)
    assert prompt["4"]["inputs"]["blur_radius"] == 5 and prompt["4"]["_meta"] == {"title": "Blur"}
    assert prompt["6"] == load("api_prompt.json")["6"]  # the unknown node and its __value__ kept


def test_an_edited_value_is_written_into_its_node_only(wb):
    original = load("basic_0_4.json")
    graph, _ = wb.open(FIXTURES / "basic_0_4.json")
    graph.node("2").set(blur_radius=5)
    graph.set_ui("1", pos=[10, 20])
    graph.set_mode("3", "mute")
    out = saved(wb, graph)
    nodes = {str(n["id"]): n for n in out["nodes"]}
    assert nodes["2"]["widgets_values"] == [5, 1.5]
    assert nodes["1"]["pos"] == [10, 20] and nodes["3"]["mode"] == 2
    for key in ("4", "5", "6", "7"):
        before = next(n for n in original["nodes"] if str(n["id"]) == key)
        assert nodes[key] == before
    assert out["links"] == original["links"] and out["extra"] == original["extra"]
    reopened, _ = wb.open(wb.data_dir / "output" / "saved.json")
    assert reopened.to_prompt()["2"]["inputs"]["blur_radius"] == 5
    assert "3" not in reopened.to_prompt()


def test_values_go_back_to_primitive_nodes_subgraph_instances_and_group_nodes(wb):
    graph, _ = wb.open(FIXTURES / "primitives_reroutes_0_4.json")
    graph.node("2").set(width=64)  # fed by PrimitiveNode 1, which also feeds the height
    graph.node("9").set(seed=99, control_after_generate="increment")
    out = saved(wb, graph)
    nodes = {n["id"]: n for n in out["nodes"]}
    assert nodes[1]["widgets_values"] == [64, "fixed"]
    assert nodes[8]["widgets_values"] == [99, "increment"]
    assert (
        nodes[2]["widgets_values"]
        == load("primitives_reroutes_0_4.json")["nodes"][1]["widgets_values"]
    )
    reopened, _ = wb.open(wb.data_dir / "output" / "saved.json")
    assert reopened.to_prompt()["2"]["inputs"]["height"] == 64
    assert reopened.control_of("9") == {"seed": "increment"}

    graph, _ = wb.open(FIXTURES / "subgraphs_1_0.json")
    graph.node("10:1").set(blur_radius=6)  # a promoted widget: instance 10's own value
    graph.node("11:1").set(sigma=0.5)  # the definition's value, shared by both instances
    out = saved(wb, graph)
    nodes = {n["id"]: n for n in out["nodes"]}
    assert nodes[10]["widgets_values"] == [6] and nodes[11]["widgets_values"] == [2]
    soften = out["definitions"]["subgraphs"][0]["nodes"][0]
    assert soften["widgets_values"] == [1, 0.5]
    reopened, _ = wb.open(wb.data_dir / "output" / "saved.json")
    prompt = reopened.to_prompt()
    assert prompt["10:1"]["inputs"] == {"image": ["1", 0], "blur_radius": 6, "sigma": 0.5}

    graph, _ = wb.open(FIXTURES / "group_node_0_4.json")
    graph.node("6:1").set(blur_radius=3)
    out = saved(wb, graph)
    assert out["nodes"][1]["widgets_values"] == [8, 8, 2, 16777215, 3, 0.5]
    assert out["extra"] == load("group_node_0_4.json")["extra"]


def test_links_and_nodes_edited_in_the_graph_are_saved(wb):
    graph, _ = wb.open(FIXTURES / "basic_0_4.json")
    graph.node("3").set(images=graph.node("1")[0])  # relink the save to the empty image
    graph.remove("5")
    inverted = graph.ImageInvert(image=graph.node("2")[0])
    graph.PreviewImage(images=inverted)
    out = saved(wb, graph)
    nodes = {str(n["id"]): n for n in out["nodes"]}
    assert "5" not in nodes and not any(4 in (link[0],) for link in out["links"])
    assert nodes["4"]["outputs"][0]["links"] == []
    assert nodes["2"]["outputs"][0]["links"] == [3, 6]  # link 2 went with the relink
    assert out["last_node_id"] == 9 and out["last_link_id"] == 7
    assert nodes["8"]["type"] == "ImageInvert" and nodes["9"]["type"] == "PreviewImage"
    reopened, _ = wb.open(wb.data_dir / "output" / "saved.json")
    prompt = reopened.to_prompt()
    assert prompt["3"]["inputs"]["images"] == ["1", 0]
    assert prompt["8"] == {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}}
    assert prompt["9"]["inputs"]["images"] == ["8", 0]
    assert wb.run(reopened, progress=False).status == "success"


def test_a_run_advances_seeds_and_saving_keeps_the_next_value(wb):
    graph, _ = wb.open(FIXTURES / "modes_1_0.json")
    wb.run(graph, progress=False)
    out = saved(wb, graph)
    assert out["nodes"][0]["widgets_values"] == [32, 2, 78, "increment"]
    assert out["links"] == load("modes_1_0.json")["links"]


def test_a_graph_built_in_code_saves_laid_out_and_reopens_to_the_same_prompt(wb):
    g = wb.graph()
    shapes = g.GenerateShapes(size=16, control_after_generate="randomize")
    blurred = g.ImageBlur(image=shapes, blur_radius=2)
    g.SaveImage(images=g.ImageInvert(image=blurred), filename_prefix="code")
    out = saved(wb, g)
    assert out["version"] == 0.4 and [n["id"] for n in out["nodes"]] == [1, 2, 3, 4]
    xs = [n["pos"][0] for n in out["nodes"]]
    assert xs == sorted(xs) and len(set(xs)) == 4  # one column per step, left to right
    assert out["nodes"][0]["widgets_values"] == [16, 1, 0, "randomize"]
    reopened, report = wb.open(wb.data_dir / "output" / "saved.json")
    assert report.ok
    renamed = {
        "1": "GenerateShapes_1",
        "2": "ImageBlur_1",
        "3": "ImageInvert_1",
        "4": "SaveImage_1",
    }
    original = g.to_prompt()
    for new_id, node in reopened.to_prompt().items():
        assert node["class_type"] == original[renamed[new_id]]["class_type"]
        inputs = {
            k: [renamed[v[0]], v[1]] if isinstance(v, list) else v
            for k, v in node["inputs"].items()
        }
        assert inputs == original[renamed[new_id]]["inputs"]
    assert reopened.control_of("1") == {"seed": "randomize"}
    api = saved(wb, g, "code.api.json")
    assert api["ImageBlur_1"]["_meta"] == {"title": "Image Blur"}


# --- PNG ---


def _png(path: Path, chunks: dict[str, str]) -> None:
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for key, text in chunks.items():
        info.add_text(key, text)
    Image.new("RGB", (4, 3), (10, 200, 30)).save(path, pnginfo=info)


def test_a_png_with_nan_in_its_json_opens_runs_and_takes_the_workflow_back(wb):
    workflow = load("basic_0_4.json")
    workflow["extra"]["ds"]["scale"] = float("nan")
    workflow["nodes"][0]["properties"]["strength"] = float("inf")
    prompt = {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 64, "height": 48, "batch_size": 1, "color": 0},
        }
    }
    path = wb.data_dir / "input" / "nan.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    _png(path, {"prompt": json.dumps(prompt), "workflow": json.dumps(workflow), "other": "kept"})
    assert "NaN" in read_png_text(path.read_bytes())["workflow"]
    graph, report = wb.open("nan.png")  # a file name: found in the input folder
    assert report.format == "png workflow 0.4"
    assert canonical(graph.to_prompt()) == canonical(EXPECTED["basic_0_4.json"])
    assert wb.run(graph, progress=False).status == "success"
    graph.node("2").set(blur_radius=4)
    copy = wb.data_dir / "output" / "copy.png"
    shutil.copy(path, copy)
    wb.save(graph, "copy.png")
    texts = read_png_text(copy.read_bytes())
    assert texts["other"] == "kept"
    assert json.loads(texts["prompt"])["2"]["inputs"]["blur_radius"] == 4
    again, _ = wb.open(copy)
    assert again.to_prompt()["2"]["inputs"]["blur_radius"] == 4
    assert canonical(again.document["extra"]) == canonical(workflow["extra"])
    from PIL import Image

    assert Image.open(copy).tobytes() == Image.open(path).tobytes()


def test_a_png_made_by_a_run_reopens_with_each_images_seed(wb):
    g = wb.graph()
    g.SaveImage(
        images=g.GenerateShapes(size=8, control_after_generate="increment"),
        filename_prefix="seeded",
    )
    results = wb.run(g, progress=False, number=2)
    used = [r.job.seeds["GenerateShapes_1"]["seed"] for r in results]
    images = sorted((wb.data_dir / "output").glob("seeded_*.png"))
    assert len(images) == 2
    for image, seed in zip(images, used, strict=True):
        assert set(read_png_text(image.read_bytes())) >= {"prompt", "workflow"}
        graph, report = wb.open(image)
        assert report.ok and report.format == "png workflow 0.4"
        assert graph.to_prompt()["1"]["inputs"]["seed"] == seed
        assert graph.control_of("1") == {"seed": "increment"}


def test_a_png_without_a_workflow_is_reported(wb, tmp_path):
    path = tmp_path / "photo.png"
    _png(path, {"parameters": "a cat, steps: 20"})
    graph, report = wb.open(path)
    assert len(graph) == 0
    (issue,) = report.issues
    assert issue.kind == "file" and "text chunks: parameters" in issue.detail


# --- files and folders ---


def test_bad_files_give_a_report_or_an_error_naming_the_file(wb, tmp_path):
    with pytest.raises(FileNotFoundError, match="no workflow file 'nowhere.json'"):
        wb.open("nowhere.json")
    (tmp_path / "notes.json").write_text("{not json")
    graph, report = wb.open(tmp_path / "notes.json")
    assert len(graph) == 0 and report.issues[0].kind == "file"
    assert report.source == "notes.json" and "not JSON" in report.issues[0].detail
    (tmp_path / "list.json").write_text("[1, 2]")
    _, report = wb.open(tmp_path / "list.json")
    assert "not a ComfyUI workflow or API prompt (a JSON list)" in report.issues[0].detail
    graph, _ = wb.open(FIXTURES / "basic_0_4.json")
    with pytest.raises(ValueError, match="outside|inside the data folder"):
        wb.save(graph, tmp_path / "elsewhere.json")
    with pytest.raises(ValueError, match="reach outside|outside"):
        wb.save(graph, "../escape.json")
    with pytest.raises(ValueError, match=r"\.json .* or a \.png"):
        wb.save(graph, "flow.txt")
    with pytest.raises(FileNotFoundError, match="existing image"):
        wb.save(graph, "missing.png")


def test_open_takes_a_dict_json_text_or_png_bytes(wb):
    data = load("modes_1_0.json")
    for source in (data, json.dumps(data), json.dumps(data).encode()):
        graph, report = wb.open(source)
        assert report.ok and canonical(graph.to_prompt()) == canonical(EXPECTED["modes_1_0.json"])


def test_a_files_own_id_counters_are_kept_until_something_is_added(wb):
    data = load("basic_0_4.json")
    data["last_link_id"] = -1  # stale, as hand-edited files have them
    data["last_node_id"] = 2
    graph, _ = wb.open(data)
    assert saved(wb, graph) == data
    graph.PreviewImage(images=graph.node("1")[0])
    out = saved(wb, graph)
    assert (out["last_node_id"], out["last_link_id"]) == (8, 5)  # after the highest in use
    assert out["nodes"][-1]["id"] == 8 and out["links"][-1] == [5, 1, 0, 8, 0, "IMAGE"]
