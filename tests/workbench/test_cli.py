"""``python -m workbench run``: a saved graph runs headless, writes its image with ComfyUI's
metadata, and a failing one exits non-zero with the report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from workbench.cli import main

ROOT = Path(__file__).parents[2]


def saved_prompt(prefix: str = "cli/picture") -> dict:
    """An API prompt as ComfyUI's "Export (API)" writes it, titles in ``_meta``."""
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 8, "height": 4, "batch_size": 1, "color": 0x336699},
            "_meta": {"title": "Canvas"},
        },
        "2": {
            "class_type": "ImageInvert",
            "inputs": {"image": ["1", 0]},
            "_meta": {"title": "Invert Image"},
        },
        "3": {
            "class_type": "SaveImage",
            "inputs": {"images": ["2", 0], "filename_prefix": prefix},
            "_meta": {"title": "Save Image"},
        },
    }


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "workbench", "run", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_a_saved_prompt_runs_headless_and_writes_its_image_with_metadata(tmp_path):
    path = tmp_path / "graph.json"
    path.write_text(json.dumps(saved_prompt()))
    data = tmp_path / "data"
    done = run_cli(
        str(path),
        "--data-dir", str(data),
        "--set", "Canvas.width=16",
        "--set", '3.filename_prefix="cli/changed"',
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    written = done.stdout.split()
    assert written == [str(data / "output" / "cli" / "changed_00001_.png")]
    with Image.open(written[0]) as image:
        assert image.size == (16, 4)
        pixel = image.getpixel((0, 0))  # inverted; 8-bit values are truncated, as ComfyUI
        assert all(abs(a - b) <= 1 for a, b in zip(pixel, (0xCC, 0x99, 0x66), strict=True))
        prompt = json.loads(image.text["prompt"])
    expected = saved_prompt("cli/changed")
    expected["1"]["inputs"]["width"] = 16
    assert prompt == expected  # the prompt that ran, --set included
    assert "100.0%" in done.stderr and "[" in done.stderr  # the text progress bar


def test_a_failing_prompt_exits_non_zero_with_the_report(tmp_path):
    prompt = saved_prompt()
    prompt["2"] = {
        "class_type": "ResizeImageMaskNode",
        "inputs": {"input": ["1", 0], "resize_type": "match size", "scale_method": "area"},
    }
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(prompt))
    done = run_cli(str(path), "--data-dir", str(tmp_path / "data"), "--quiet", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert "<RunResult error" in done.stderr
    assert "error in 2: resize_type 'match size' needs the input resize_type.match" in done.stderr
    assert not (tmp_path / "data" / "output" / "cli").exists()


# --- in process: what the command refuses, and partial runs ---


@pytest.fixture
def prompt_file(tmp_path):
    path = tmp_path / "graph.json"
    path.write_text(json.dumps(saved_prompt()))
    return path


def run_main(capsys, *args) -> tuple[int, str, str]:
    code = main(["run", *map(str, args), "--quiet"])
    out, err = capsys.readouterr()
    return code, out, err


def test_output_runs_only_what_a_node_needs(tmp_path, capsys):
    prompt = saved_prompt()
    prompt["4"] = {
        "class_type": "SaveImage",
        "inputs": {"images": ["1", 0], "filename_prefix": "b"},
    }
    path = tmp_path / "two.json"
    path.write_text(json.dumps({"prompt": prompt, "client_id": "x"}))  # as sent to /prompt
    code, out, err = run_main(capsys, path, "--data-dir", tmp_path / "data", "--output", "4")
    assert code == 0, err
    assert out.split() == [str(tmp_path / "data" / "output" / "b_00001_.png")]


def test_invalid_prompt_reports_the_node_and_input(tmp_path, capsys, prompt_file):
    code, out, err = run_main(
        capsys, prompt_file, "--data-dir", tmp_path / "data", "--set", "1.width=-5"
    )
    assert code == 1 and out == ""
    assert "<RunResult invalid" in err and "1: Value -5 smaller than min of 1 (width)" in err


@pytest.mark.parametrize(
    "content, args, message",
    [
        ('{"nodes": [], "links": []}', [], "graph.json: nothing in it can run"),
        ("{not json", [], "is not JSON: Expecting property name"),
        ("[1, 2]", [], "is not an API prompt"),
        (None, ["--set", "Nobody.width=3"], "no node id or title before the '.'"),
        (None, ["--set", "1.wdth=3"], "node 1 (EmptyImage) has no input 'wdth'"),
        (None, ["--set", "1.width"], "expected NODE.INPUT=VALUE"),
        (None, ["--output", "99"], "no node '99' in the prompt; its nodes: 1 (EmptyImage)"),
    ],
)
def test_unusable_files_and_arguments_exit_2_naming_the_problem(
    tmp_path, capsys, prompt_file, content, args, message
):
    if content is not None:
        prompt_file.write_text(content)
    code, out, err = run_main(capsys, prompt_file, "--data-dir", tmp_path / "data", *args)
    assert code == 2 and out == ""
    assert err.startswith("workbench run: ") and message in err


def test_a_png_without_a_graph_or_a_missing_file_is_refused(tmp_path, capsys):
    png = tmp_path / "image.png"
    Image.new("RGB", (2, 2)).save(png)
    code, _, err = run_main(capsys, png, "--data-dir", tmp_path / "data")
    assert code == 2 and "holds no ComfyUI workflow or prompt" in err
    assert "image.png: nothing in it can run" in err
    code, _, err = run_main(capsys, tmp_path / "missing.json", "--data-dir", tmp_path / "data")
    assert code == 2 and "cannot read" in err and "missing.json" in err


WORKFLOWS = Path(__file__).parent / "workflows"


def test_a_ui_workflow_runs_headless_and_its_png_runs_again(tmp_path):
    """A workflow saved by ComfyUI's frontend (0.4, an unknown pack node in one branch):
    the branches we have run, the report names the rest; the PNG written runs again."""
    data = tmp_path / "data"
    done = run_cli(
        str(WORKFLOWS / "basic_0_4.json"), "--data-dir", str(data), "--output", "3", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "unknown type  4     FancyUpscale  pack comfyui-fancy-pack" in done.stderr  # the report
    (written,) = done.stdout.split()
    with Image.open(written) as image:
        assert image.size == (64, 48)
        prompt = json.loads(image.text["prompt"])
    assert [prompt[n]["class_type"] for n in sorted(prompt)] == [
        "EmptyImage",
        "ImageBlur",
        "SaveImage",
        "PreviewImage",  # the prompt as it was queued, as ComfyUI writes it
    ]
    again = run_cli(written, "--data-dir", str(data), "--output", "3", "--quiet", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    (second,) = again.stdout.split()
    assert second == written  # the same graph: served by the data folder's disk cache


def test_a_workflow_whose_output_needs_a_missing_node_fails_with_the_report(tmp_path, capsys):
    code, out, err = run_main(
        capsys, WORKFLOWS / "basic_0_4.json", "--data-dir", tmp_path / "data", "--output", "5"
    )
    assert code == 1 and out == ""
    assert "FancyUpscale" in err and "<RunResult" in err
