"""ComfyUI custom node packs: V1 and V3 packs load with load_custom_nodes and run; a broken one
is reported in one line and the others still load (packs in tests/workbench/custom_nodes)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from workbench import Workbench

PACKS = Path(__file__).parent / "custom_nodes"
V1_NODES = ["TestV1Fill", "TestV1InvertTimes", "TestV1Gate", "TestV1WriteNote", "TestV1Stop"]
V3_NODES = ["TestV3Source", "TestV3Choose", "TestV3Show", "TestV3Sum", "TestV3Later"]


@pytest.fixture
def wb(tmp_path):
    session = Workbench(data_dir=tmp_path / "data", persist=False)
    yield session
    session.close()


@pytest.fixture
def loaded(wb):
    report = wb.load_custom_nodes(PACKS)
    return wb, report


@pytest.fixture
def v3_pack(loaded):
    module = sys.modules["workbench_test_v3"]
    module.CALLS.clear()
    return module


def events_of(wb, prompt, outputs=None):
    seen = []
    unsubscribe = wb.executor.subscribe(seen.append)
    try:
        result = wb.executor.execute(prompt, outputs=outputs)
    finally:
        unsubscribe()
    return result, seen


def write_pack(folder: Path, name: str, code: str) -> Path:
    pack = folder / name
    pack.mkdir(parents=True)
    (pack / "__init__.py").write_text(textwrap.dedent(code))
    return pack


# --- loading and the report ---


def test_a_folder_of_packs_loads_each_pack_and_reports_the_broken_one_in_one_line(loaded):
    wb, report = loaded
    by_name = {p.name: p for p in report.packs}
    assert list(by_name) == ["workbench_test_broken", "workbench_test_v1", "workbench_test_v3"]
    broken = by_name["workbench_test_broken"]
    assert broken.error == (
        "workbench_test_broken: needs module 'workbench_test_not_installed_anywhere', "
        "which is not installed here"
    )
    assert "Traceback" in broken.details and broken.nodes == []
    assert (
        by_name["workbench_test_v1"].api == "V1" and by_name["workbench_test_v1"].nodes == V1_NODES
    )
    assert (
        by_name["workbench_test_v3"].api == "V3" and by_name["workbench_test_v3"].nodes == V3_NODES
    )
    assert not report.ok and report.failed == [broken]
    assert set(V1_NODES + V3_NODES) <= set(wb.registry)
    notes = " ".join(by_name["workbench_test_v1"].notes)
    assert "WEB_DIRECTORY ignored" in notes and "/workbench_test_v1/hello" in notes
    text = str(report)
    assert text.startswith("2 of 3 node packs loaded") and broken.error in text
    assert "workbench_test_broken" not in sys.modules  # its half-import was undone


def test_v1_and_v3_nodes_side_by_side_in_object_info(loaded):
    wb, _ = loaded
    info = wb.registry.object_info()
    fill = info["TestV1Fill"]
    assert fill["display_name"] == "Fill (test V1)"
    assert fill["input"]["required"]["width"] == ["INT", {"default": 4, "min": 1, "max": 16384}]
    assert fill["python_module"] == "custom_nodes.workbench_test_v1"
    source = info["TestV3Source"]
    assert source["display_name"] == "Source (test V3)"
    assert source["category"] == "test/v3" and source["description"] == "An image of one value."
    assert source["input"]["required"]["value"] == [
        "FLOAT",
        {"tooltip": "The value.", "default": 0.5, "min": 0.0, "max": 1.0, "step": 0.1},
    ]
    assert source["input"]["required"]["channels"] == [
        "COMBO",
        {"default": "rgb", "multiselect": False, "options": ["rgb", "rgba"]},
    ]
    assert source["input"]["optional"]["label"] == ["STRING", {"default": "", "multiline": True}]
    assert source["input"]["hidden"] == {"unique_id": ["UNIQUE_ID"]}
    assert source["output"] == ["IMAGE", "STRING"]
    assert source["output_name"] == ["image", "STRING"]
    assert info["TestV3Show"]["output_node"] is True
    assert info["TestV3Show"]["input"]["hidden"] == {
        "prompt": ["PROMPT"],
        "extra_pnginfo": ["EXTRA_PNGINFO"],
    }
    # The one NodeSpec sees them as any node: widgets, links, lazy inputs, choices.
    spec = wb.registry.get("TestV3Choose").spec()
    assert [(i.name, i.kind, i.lazy) for i in spec.inputs] == [
        ("use_b", "widget", False),
        ("a", "link", True),
        ("b", "link", True),
    ]
    assert wb.registry.get("TestV3Source").spec().input("channels").choices == ["rgb", "rgba"]


def test_the_stand_in_modules_exist_only_once_a_pack_is_loaded(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys
        from workbench import Workbench
        wb = Workbench(data_dir={str(tmp_path)!r}, persist=False)
        names = ("folder_paths", "server", "comfy", "comfy_api", "workbench.interop")
        assert not any(n in sys.modules for n in names), [n for n in names if n in sys.modules]
        wb.load_custom_nodes({str(PACKS / "workbench_test_v1")!r})
        assert all(n in sys.modules for n in names)
        wb.close()
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# --- the V1 pack runs ---


def test_v1_progress_bar_reaches_the_event_bus_with_previews_and_send_sync(loaded):
    wb, _ = loaded
    prompt = {
        "fill": {
            "class_type": "TestV1Fill",
            "inputs": {"width": 2, "height": 3, "value": 0.5, "steps": 4},
        }
    }
    r, events = events_of(wb, prompt, outputs=["fill"])
    assert r.status == "success", r.error
    progress = [e.data for e in events if e.type == "progress"]
    assert progress and all(p["node"] == "fill" and p["max"] == 4 for p in progress)
    assert progress[-1]["value"] == 4  # the last value always arrives
    assert progress[-1]["preview"].shape == (1, 3, 2, 3)
    sent = [e for e in events if e.type == "workbench_test_v1.filled"]
    assert len(sent) == 1
    assert sent[0].data["node"] == "fill" and sent[0].prompt_id == r.prompt_id
    assert wb.executor.get_output("fill")[0].eq(0.5).all()


def test_v1_node_expansion_with_graph_builder(loaded):
    wb, _ = loaded
    prompt = {
        "fill": {
            "class_type": "TestV1Fill",
            "inputs": {"width": 2, "height": 2, "value": 0.25, "steps": 1},
        },
        "invert": {"class_type": "TestV1InvertTimes", "inputs": {"image": ["fill", 0], "times": 3}},
    }
    r = wb.executor.execute(prompt, outputs=["invert"])
    assert r.status == "success", r.error
    assert wb.executor.get_output("invert")[0].eq(0.75).all()  # inverted three times
    # The three ImageInvert nodes it expanded into ran, under ids derived from its own.
    assert r.executed == {"fill", "invert", "invert.0.0.1", "invert.0.0.2", "invert.0.0.3"}


def test_v1_execution_blocker_blocks_what_is_downstream(loaded, tmp_path):
    wb, _ = loaded
    prompt = {
        "fill": {
            "class_type": "TestV1Fill",
            "inputs": {"width": 2, "height": 2, "value": 0.25, "steps": 1},
        },
        "gate": {
            "class_type": "TestV1Gate",
            "inputs": {"image": ["fill", 0], "open": False, "message": "closed"},
        },
        "note": {"class_type": "TestV1WriteNote", "inputs": {"image": ["gate", 0], "text": "x"}},
    }
    r, events = events_of(wb, prompt)
    assert r.status == "success" and "gate" in r.executed  # the run goes on around the block
    errors = [e.data for e in events if e.type == "execution_error"]
    assert [e["node_id"] for e in errors] == ["note"]
    assert errors[0]["exception_message"] == "Execution Blocked: closed"
    notes = wb.data_dir / "output" / "notes"
    assert not notes.exists() or not any(notes.iterdir())  # nothing was written
    prompt["gate"]["inputs"]["open"] = True
    r = wb.executor.execute(prompt)
    assert r.status == "success", r.error
    written = list((wb.data_dir / "output" / "notes").iterdir())
    assert [f.read_text() for f in written] == ["x (1, 2, 2, 3)"]
    assert r.outputs["note"] == {"text": [written[0].name]}


def test_v1_interrupt_through_model_management(loaded):
    wb, _ = loaded
    prompt = {
        "fill": {
            "class_type": "TestV1Fill",
            "inputs": {"width": 2, "height": 2, "value": 0.25, "steps": 1},
        },
        "stop": {"class_type": "TestV1Stop", "inputs": {"image": ["fill", 0]}},
    }
    r = wb.executor.execute(prompt, outputs=["stop"])
    assert r.status == "interrupted"
    assert "stop" not in r.executed


def test_a_v1_pack_runs_through_wb_run(loaded):
    wb, _ = loaded
    g = wb.graph()
    image = g.TestV1Fill(width=3, height=1, value=0.5, steps=2)
    inverted = g.TestV1InvertTimes(image=image, times=1)
    r = wb.run(g, outputs=[inverted], progress=False)
    assert r.status == "success"
    assert r[inverted].eq(0.5).all() and r[inverted].shape == (1, 1, 3, 3)


# --- the V3 pack runs ---


def source(value=0.5, size=2, channels="rgb"):
    return {
        "class_type": "TestV3Source",
        "inputs": {"value": value, "size": size, "channels": channels},
    }


@pytest.mark.parametrize("use_b", [False, True])
def test_v3_lazy_input_computes_only_the_chosen_branch(loaded, v3_pack, use_b):
    wb, _ = loaded
    prompt = {
        "a": source(0.1),
        "b": source(0.9),
        "choose": {
            "class_type": "TestV3Choose",
            "inputs": {"use_b": use_b, "a": ["a", 0], "b": ["b", 0]},
        },
    }
    r = wb.executor.execute(prompt, outputs=["choose"])
    assert r.status == "success", r.error
    ran = [detail for name, detail in v3_pack.CALLS if name == "TestV3Source"]
    assert ran == (["b"] if use_b else ["a"])  # hidden unique_id: the node's id
    assert wb.executor.get_output("choose")[0].eq(0.9 if use_b else 0.1).all()
    # check_lazy_status saw the unevaluated input as None, then the value.
    asked = [detail for name, detail in v3_pack.CALLS if name.endswith("check_lazy_status")]
    assert asked[0] == (use_b, True, True) and len(asked) == 2


def test_v3_fingerprint_inputs_decides_when_it_runs_again(loaded, v3_pack):
    wb, _ = loaded
    prompt = {"src": source()}
    assert wb.executor.execute(prompt, outputs=["src"]).executed == {"src"}
    assert wb.executor.execute(prompt, outputs=["src"]).executed == set()
    v3_pack.EPOCH[0] += 1  # what the node fingerprints changed
    assert wb.executor.execute(prompt, outputs=["src"]).executed == {"src"}
    assert wb.executor.get_output("src")[1] == "@src"


def test_v3_validate_inputs_and_ui_output(loaded):
    wb, _ = loaded
    prompt = {
        "src": source(),
        "show": {"class_type": "TestV3Show", "inputs": {"value": ["src", 1], "limit": 4}},
    }
    r = wb.executor.execute(prompt)
    assert r.status == "success", r.error
    assert r.outputs["show"] == {"text": ["@src prompt=True"]}  # hidden prompt given
    prompt["show"]["inputs"]["limit"] = 13
    r = wb.executor.execute(prompt)
    assert r.status == "invalid"
    assert "13 is unlucky" in str(r.node_errors["show"])


def test_v3_autogrow_and_dynamic_combo_reach_execute_nested(loaded):
    wb, _ = loaded
    prompt = {
        "one": {"class_type": "PrimitiveFloat", "inputs": {"value": 1.5}},
        "two": {"class_type": "PrimitiveFloat", "inputs": {"value": 2.0}},
        "sum": {
            "class_type": "TestV3Sum",
            "inputs": {
                "values.value0": ["one", 0],
                "values.value2": ["two", 0],
                "scale": "by",
                "scale.factor": 2.0,
            },
        },
    }
    r = wb.executor.execute(prompt, outputs=["sum"])
    assert r.status == "success", r.error
    assert wb.executor.get_output("sum") == (
        7.0,
        "['value0', 'value2'] {'scale': 'by', 'factor': 2.0}",
    )
    prompt["sum"]["inputs"]["scale"] = "none"
    r = wb.executor.execute(prompt, outputs=["sum"])
    assert wb.executor.get_output("sum") == (3.5, "['value0', 'value2'] {'scale': 'none'}")


def test_v3_async_execute_and_comfy_api_progress(loaded):
    wb, _ = loaded
    prompt = {"later": {"class_type": "TestV3Later", "inputs": {"value": 1.25}}}
    r, events = events_of(wb, prompt, outputs=["later"])
    assert r.status == "success", r.error
    assert wb.executor.get_output("later") == (2.5,)
    assert [
        (e.data["node"], e.data["value"], e.data["max"]) for e in events if e.type == "progress"
    ] == [("later", 1, 2)]


def test_v3_source_in_a_graph_with_built_in_nodes(loaded):
    wb, _ = loaded
    g = wb.graph()
    image, _label = g.TestV3Source(value=0.25, size=3, channels="rgba")
    inverted = g.ImageInvert(image=image)
    r = wb.run(g, outputs=[inverted], progress=False)
    assert r.status == "success"
    assert r[inverted].shape == (1, 3, 3, 4) and torch.allclose(
        r[inverted][..., :3], torch.tensor(0.75)
    )


# --- packs that fail, and what they cannot do ---


@pytest.mark.parametrize(
    "code, error",
    [
        (
            "import comfy.sd\n",
            "needs module 'comfy.sd', a part of ComfyUI the workbench does not provide",
        ),
        (
            "from comfy.utils import load_torch_file\n",
            "needs 'load_torch_file' from 'comfy.utils', which the workbench's stand-in",
        ),
        (
            "from nodes import common_ksampler\n",
            "needs 'common_ksampler' from 'nodes', which the workbench's stand-in",
        ),
        ("import sys\nsys.exit(3)\n", "called sys.exit(3) while being imported"),
        ("x = (\n", "failed to import: SyntaxError"),
        (
            "raise RuntimeError('no GPU')\n",
            "failed to import: RuntimeError: no GPU (__init__.py, line 1)",
        ),
        ("X = 1\n", "exports no nodes"),
    ],
)
def test_a_failing_pack_gives_one_line_and_the_others_still_load(wb, tmp_path, code, error):
    folder = tmp_path / "custom_nodes"
    write_pack(folder, "a_failing_pack", code)
    write_pack(
        folder,
        "b_good_pack",
        """
        class Good:
            RETURN_TYPES = ("INT",)
            FUNCTION = "run"
            CATEGORY = "test"
            @classmethod
            def INPUT_TYPES(cls):
                return {"required": {}}
            def run(self):
                return (1,)
        NODE_CLASS_MAPPINGS = {"GoodNode": Good}
    """,
    )
    report = wb.load_custom_nodes(folder)
    failing, good = report.packs
    assert failing.error.startswith("a_failing_pack: ") and error in failing.error
    assert "\n" not in failing.error
    assert good.ok and good.nodes == ["GoodNode"] and "GoodNode" in wb.registry


def test_broken_nodes_are_skipped_with_their_reason(wb, tmp_path):
    write_pack(
        tmp_path,
        "mixed_pack",
        """
        from comfy_api.latest import io

        class NoFunction:
            RETURN_TYPES = ()
            @classmethod
            def INPUT_TYPES(cls):
                return {}

        class BadInputs:
            RETURN_TYPES = ()
            FUNCTION = "f"
            @classmethod
            def INPUT_TYPES(cls):
                raise ValueError("cannot list my models")
            def f(self):
                return ()

        class NestedDynamic(io.ComfyNode):
            @classmethod
            def define_schema(cls):
                inner = io.Autogrow.Input("more", template=io.Autogrow.TemplateNames(
                    io.Int.Input("x"), names=["x"]))
                return io.Schema(node_id="NestedDynamic", inputs=[
                    io.DynamicCombo.Input("mode", options=[io.DynamicCombo.Option("a", [inner])])])

        class Fine:
            RETURN_TYPES = ("INT",)
            FUNCTION = "f"
            @classmethod
            def INPUT_TYPES(cls):
                return {"required": {}}
            def f(self):
                return (1,)

        NODE_CLASS_MAPPINGS = {"NoFunction": NoFunction, "BadInputs": BadInputs,
                               "NestedDynamic": NestedDynamic, "ImageInvert": Fine,
                               "FineNode": Fine}
    """,
    )
    (pack,) = wb.load_custom_nodes(tmp_path / "mixed_pack").packs
    assert pack.ok and pack.nodes == ["FineNode"]
    assert pack.skipped["NoFunction"] == "TypeError: node class 'NoFunction' has no FUNCTION"
    assert pack.skipped["BadInputs"] == "ValueError: cannot list my models"
    assert (
        "a dynamic input inside a DynamicCombo option is not supported"
        in pack.skipped["NestedDynamic"]
    )
    assert "built-in" in pack.skipped["ImageInvert"]
    assert wb.registry.get("ImageInvert").cls.__module__ == "nodes.image"  # the built-in stays
    assert "BadInputs" not in wb.registry


def test_single_file_packs_load_and_hidden_or_disabled_folders_do_not(wb, tmp_path):
    (tmp_path / "one_file.py").write_text(
        textwrap.dedent(
            """
            from comfy_api.latest import io

            class Double(io.ComfyNode):  # a V3 class in NODE_CLASS_MAPPINGS
                @classmethod
                def define_schema(cls):
                    return io.Schema(node_id="Double", inputs=[io.Int.Input("x")],
                                     outputs=[io.Int.Output()])
                @classmethod
                def execute(cls, x):
                    return io.NodeOutput(2 * x)

            NODE_CLASS_MAPPINGS = {"Double": Double}
            """
        )
    )
    for name in (".hidden_pack", "old_pack.disabled", "__pycache__"):
        write_pack(tmp_path, name, "raise RuntimeError('must not be imported')\n")
    report = wb.load_custom_nodes(tmp_path)
    assert [(p.name, p.api, p.nodes) for p in report.packs] == [("one_file", "V1", ["Double"])]
    r = wb.executor.execute({"d": {"class_type": "Double", "inputs": {"x": 21}}}, outputs=["d"])
    assert r.status == "success" and wb.executor.get_output("d") == (42,)


def test_a_pack_named_like_an_installed_module_is_refused(wb, tmp_path, monkeypatch):
    write_pack(tmp_path / "packs", "json", "NODE_CLASS_MAPPINGS = {}\n")
    (pack,) = wb.load_custom_nodes(tmp_path / "packs" / "json").packs
    assert "its name is taken by the module 'json' (already loaded from" in pack.error
    import json

    assert sys.modules["json"] is json
    # Not imported yet, only importable: the pack would still hide it.
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "workbench_test_library.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    write_pack(tmp_path / "packs", "workbench_test_library", "NODE_CLASS_MAPPINGS = {}\n")
    (pack,) = wb.load_custom_nodes(tmp_path / "packs" / "workbench_test_library").packs
    assert "(installed at " in pack.error and "rename the pack's folder" in pack.error
    assert "workbench_test_library" not in sys.modules


V1_ANSWER = """
    class Answer:
        RETURN_TYPES = ("INT",)
        FUNCTION = "run"
        @classmethod
        def INPUT_TYPES(cls):
            return {{"required": {{}}}}
        def run(self):
            return ({value},)
    NODE_CLASS_MAPPINGS = {{"Answer": Answer}}
"""
V3_ANSWER = """
    from comfy_api.latest import ComfyExtension, io

    class Answer(io.ComfyNode):
        @classmethod
        def define_schema(cls):
            return io.Schema(node_id="Answer", outputs=[io.Int.Output()])
        @classmethod
        def execute(cls):
            return io.NodeOutput({value})

    class Extension(ComfyExtension):
        async def get_node_list(self):
            return [Answer]

    async def comfy_entrypoint():
        return Extension()
"""


@pytest.mark.parametrize("code", [V1_ANSWER, V3_ANSWER], ids=["V1", "V3"])
def test_loading_a_pack_again_imports_its_new_code(wb, tmp_path, code):
    pack = write_pack(tmp_path, "reloaded_pack", code.format(value=1))
    prompt = {"a": {"class_type": "Answer", "inputs": {}}}
    wb.load_custom_nodes(pack)
    wb.executor.execute(prompt, outputs=["a"])
    assert wb.executor.get_output("a") == (1,)
    assert wb.executor.execute(prompt, outputs=["a"]).executed == set()
    (pack / "__init__.py").write_text(textwrap.dedent(code.format(value=2)))
    wb.load_custom_nodes(pack)
    r = wb.executor.execute(prompt, outputs=["a"])  # new code: its node runs again
    assert r.executed == {"a"} and wb.executor.get_output("a") == (2,)


def test_missing_path_is_a_clear_error(wb, tmp_path):
    with pytest.raises(FileNotFoundError, match="no custom node pack or folder"):
        wb.load_custom_nodes(tmp_path / "nowhere")


# --- folder_paths ---


def test_folder_paths_are_the_sessions_folders_and_stay_inside_them(loaded):
    wb, _ = loaded
    import folder_paths

    data = wb.data_dir
    assert folder_paths.get_output_directory() == str(data / "output")
    assert folder_paths.get_input_directory() == str(data / "input")
    assert folder_paths.models_dir == str(data / "models")
    loras = data / "models" / "loras"
    (loras / "sub").mkdir(parents=True)
    (loras / "a.safetensors").write_bytes(b"")
    (loras / "sub" / "b.safetensors").write_bytes(b"")
    (loras / "notes.txt").write_text("")
    assert folder_paths.get_filename_list("loras") == ["a.safetensors", "sub/b.safetensors"]
    assert folder_paths.get_full_path("loras", "sub/b.safetensors") == str(
        loras / "sub" / "b.safetensors"
    )
    assert folder_paths.get_full_path("loras", "../loras/a.safetensors") is None
    assert folder_paths.get_full_path("loras", "/etc/passwd") is None
    assert folder_paths.get_filename_list("no_such_models") == []
    with pytest.raises(ValueError, match="outside"):
        folder_paths.get_annotated_filepath("../../secret.png")
    mine = data / "output" / "mine"
    folder, name, counter, subfolder, _ = folder_paths.get_save_image_path("a/b", str(mine))
    assert (folder, name, counter, subfolder) == (str(mine / "a"), "b", 1, "a")
    with pytest.raises(ValueError, match="outside"):
        folder_paths.get_save_image_path("../../escape", str(mine))
    assert folder_paths.get_annotated_filepath("cat.png [output]") == str(
        data / "output" / "cat.png"
    )


def test_send_sync_outside_a_run_reaches_the_sessions_bus(loaded):
    wb, _ = loaded
    from server import PromptServer

    seen = []
    unsubscribe = wb.executor.subscribe(seen.append)
    PromptServer.instance.send_sync("my_pack.status", {"ready": True})
    PromptServer.instance.send_sync("my_pack.count", 3)
    unsubscribe()
    assert [(e.type, e.prompt_id, e.data.get("ready"), e.data.get("data")) for e in seen] == [
        ("my_pack.status", None, True, None),
        ("my_pack.count", None, None, 3),
    ]
