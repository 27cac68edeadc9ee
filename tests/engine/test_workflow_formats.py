"""The pure-data parts of engine.workflow: PNG text chunks, bounded JSON, widget values,
the report table and the automatic layout."""

from __future__ import annotations

import struct
import zlib

import pytest

from engine.nodespec import parse_inputs
from engine.workflow import png
from engine.workflow.jsondoc import MAX_DEPTH, DocumentError, parse_json, plain_json
from engine.workflow.layout import layered_layout
from engine.workflow.png import PngError, embed_png_text, read_png_text
from engine.workflow.report import MAX_ISSUES, Report
from engine.workflow.widgets import read_widget_values, write_widget_values

# --- PNG ---


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


IHDR = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
IDAT = chunk(b"IDAT", zlib.compress(b"\x00\x7f"))
IEND = chunk(b"IEND", b"")


def make_png(*chunks: bytes) -> bytes:
    return png.SIGNATURE + IHDR + b"".join(chunks) + IDAT + IEND


def test_text_chunks_of_every_kind_are_read():
    data = make_png(
        chunk(b"tEXt", b'prompt\0{"1": NaN}'),
        chunk(b"zTXt", b"workflow\0\0" + zlib.compress(b'{"nodes": []}')),
        chunk(b"iTXt", b"note\0\1\0en\0Note\0" + zlib.compress("caf\u00e9 \u2713".encode())),
        chunk(b"iTXt", b"plain\0\0\0\0\0text"),
        chunk(b"tEXt", b"prompt\0second"),  # the first chunk of a keyword wins
    )
    assert read_png_text(data) == {
        "prompt": '{"1": NaN}',
        "workflow": '{"nodes": []}',
        "note": "caf\u00e9 \u2713",
        "plain": "text",
    }


def test_a_compressed_chunk_inflating_past_the_limit_is_refused(monkeypatch):
    monkeypatch.setattr(png, "MAX_TEXT_BYTES", 1000)
    bomb = make_png(chunk(b"zTXt", b"workflow\0\0" + zlib.compress(b"0" * 5000)))
    with pytest.raises(PngError, match="inflates past 1,000 bytes"):
        read_png_text(bomb)


def test_damaged_pngs_raise_a_png_error_naming_the_problem():
    with pytest.raises(PngError, match="not a PNG"):
        read_png_text(b"GIF89a....")
    cut = make_png(chunk(b"tEXt", b"prompt\0" + b"x" * 100))[:60]
    with pytest.raises(PngError, match="ends inside a tEXt chunk"):
        read_png_text(cut)
    # A chunk whose declared length runs past the end: the walk stops, what came before stays.
    runaway = png.SIGNATURE + IHDR + chunk(b"tEXt", b"a\0b") + struct.pack(">I4s", 2**31, b"IDAT")
    assert read_png_text(runaway) == {"a": "b"}
    broken = make_png(chunk(b"zTXt", b"workflow\0\0not zlib"), chunk(b"tEXt", b"ok\0yes"))
    assert read_png_text(broken) == {"ok": "yes"}  # an undecodable chunk is skipped


def test_embedding_replaces_the_keywords_chunks_and_keeps_every_other_byte():
    original = make_png(
        chunk(b"tEXt", b"workflow\0old"),
        chunk(b"iTXt", b"prompt\0\0\0\0\0old"),
        chunk(b"tEXt", b"Software\0me"),
    )
    out = embed_png_text(original, {"prompt": '{"a": 1}', "workflow": "caf\u00e9 \u2713"})
    assert read_png_text(out) == {
        "prompt": '{"a": 1}',
        "workflow": "caf\u00e9 \u2713",  # not Latin-1: an iTXt chunk
        "Software": "me",
    }
    assert IDAT in out and out.endswith(IEND) and out.count(b"old") == 0
    with pytest.raises(PngError, match="not a PNG"):
        embed_png_text(b"nope", {})


# --- bounded JSON ---


def test_json_with_nan_and_infinity_is_read_as_comfyui_writes_it():
    data = parse_json('{"a": NaN, "b": [Infinity, -Infinity]}')
    assert data["a"] != data["a"] and data["b"] == [float("inf"), float("-inf")]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "nests deeper"),
        ("[" * 100_000, "nests deeper|not JSON"),
        ("1" * 5000, "not JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        ("{nodes: []}", "not JSON"),
    ],
)
def test_json_that_is_too_deep_or_not_json_raises_a_document_error(text, problem):
    with pytest.raises(DocumentError, match=problem):
        parse_json(text)


def test_a_file_over_the_size_limit_is_refused(monkeypatch):
    monkeypatch.setattr("engine.workflow.jsondoc.MAX_FILE_BYTES", 10)
    with pytest.raises(DocumentError, match="more than 10"):
        parse_json('{"nodes": [1, 2, 3]}')


def test_a_dict_from_code_is_copied_as_plain_json_and_its_problems_named():
    loop: dict = {"x": 1}
    loop["self"] = loop
    problems: list[str] = []
    value = plain_json({"t": (1, 2), 3: "int key", "o": object(), "loop": loop, "s": {1}}, problems)
    assert value == {
        "t": [1, 2],
        "3": "int key",
        "o": None,
        "loop": {"x": 1, "self": None},
        "s": None,
    }
    assert any("$.o: a object" in p for p in problems)
    assert any("contains itself" in p for p in problems)


# --- widget values ---


def widgets(**inputs) -> list:
    declared, _ = parse_inputs({"required": inputs})
    return [i for i in declared if i.kind == "widget"]


SAMPLER = widgets(
    seed=("INT", {"default": 0}),
    sampler=(["euler", "ddim"], {"control_after_generate": True}),
    steps=("INT", {"default": 20}),
)


@pytest.mark.parametrize(
    ("values", "expected", "control"),
    [
        # ComfyUI's layout: seed, its control, the combo, its control and filter, steps.
        (
            [5, "randomize", "ddim", "increment", "", 30],
            {"seed": 5, "sampler": "ddim", "steps": 30},
            {"seed": "randomize", "sampler": "increment"},
        ),
        # Written before control widgets existed: no extra values.
        ([5, "ddim", 30], {"seed": 5, "sampler": "ddim", "steps": 30}, {}),
        # A hole for the seed: left to its default.
        (
            [None, "fixed", "euler", "fixed", "", 7],
            {"sampler": "euler", "steps": 7},
            {"seed": "fixed", "sampler": "fixed"},
        ),
    ],
)
def test_widget_values_skip_control_and_filter_values_only_where_they_are(
    values, expected, control
):
    read = read_widget_values(SAMPLER, values)
    assert read.values == expected and read.control == control and read.unused == []


def test_upload_buttons_and_leftover_values():
    loader = widgets(image=(["a.png"], {"image_upload": True}), channel=(["red", "alpha"],))
    assert read_widget_values(loader, ["a.png", "image", "alpha"]).values == {
        "image": "a.png",
        "channel": "alpha",
    }
    read = read_widget_values(loader, ["a.png", "alpha", "image"])  # the button's value last
    assert read.values == {"image": "a.png", "channel": "alpha"} and read.unused == []
    read = read_widget_values(loader, ["a.png", "image", "alpha", 3, "x"])
    assert read.unused == [3, "x"]


def test_dict_shaped_and_named_values():
    blur = widgets(blur_radius=("INT", {}), sigma=("FLOAT", {}))
    read = read_widget_values(blur, {"blur_radius": 4, "sigma": 0.5, "extra": 1})
    assert read.values == {"blur_radius": 4, "sigma": 0.5} and read.unused == [{"extra": 1}]
    read = read_widget_values(blur, [1, 1.0], {"blur_radius": 9})
    assert read.values == {"blur_radius": 9, "sigma": 1.0}


def test_writing_values_back_keeps_the_arrays_layout():
    original = [5, "ddim", 30, "trailing"]  # no control values, a value matching nothing
    read = read_widget_values(SAMPLER, original)
    out = write_widget_values(read, original, SAMPLER, {"steps": 12}, {"seed": "increment"})
    assert out == [5, "increment", "ddim", 12, "trailing"]
    original = [5, "randomize", "ddim", "fixed", "x", 30]
    read = read_widget_values(SAMPLER, original)
    assert write_widget_values(read, original, SAMPLER, {"seed": 6}, {}) == [
        6,
        "randomize",
        "ddim",
        "fixed",
        "x",
        30,
    ]
    short = [7]  # written by an older node with fewer widgets
    read = read_widget_values(SAMPLER, short)
    assert write_widget_values(read, short, SAMPLER, {"steps": 3}, {}) == [
        7,
        "fixed",
        "euler",
        "fixed",
        "",
        3,
    ]


# --- report and layout ---


def test_the_report_groups_unknown_types_and_bounds_its_issues():
    report = Report(source="w.json", format="workflow 0.4", nodes=3, runnable=1)
    report.add("unknown_type", node="1", class_type="Fancy", pack="fancy-pack")
    report.add("unknown_type", node="2", class_type="Fancy", pack="fancy-pack")
    report.add("missing_link", "input 'a': <gone>", node="3", class_type="X")
    assert report.rows()[0] == ("unknown type", "1, 2", "Fancy", "pack fancy-pack")
    assert "&lt;gone&gt;" in report._repr_html_()
    assert not report.ok and report.unknown_types == {"Fancy": ["1", "2"]}
    for _ in range(MAX_ISSUES + 5):
        report.add("invalid", "x")
    assert len(report.issues) == MAX_ISSUES and report.dropped == 8
    assert repr(report).endswith("more")


def test_the_layout_puts_each_node_right_of_what_feeds_it():
    edges = {"a": [], "b": ["a"], "c": ["a", "b"], "d": []}
    positions = layered_layout(edges, {"a": 200})
    assert positions["a"][0] < positions["b"][0] < positions["c"][0]
    assert positions["d"][0] == positions["a"][0] and positions["d"][1] == positions["a"][1] + 240
    cycle = layered_layout({"x": ["y"], "y": ["x"], "z": ["y"]})
    assert set(cycle) == {"x", "y", "z"}


def test_bypass_choice_follows_the_frontends_order():
    from engine.workflow.modes import bypass_choice

    # The same slot if its type fits, else the exact type, else the first that fits, else none.
    assert bypass_choice("IMAGE", [("a", "IMAGE"), ("b", "IMAGE")], 1) == "b"
    assert bypass_choice("IMAGE", [("m", "MASK"), ("i", "IMAGE")], 0) == "i"
    assert bypass_choice("IMAGE", [("m", "MASK"), ("any", "*"), ("u", "IMAGE,MASK")], 0) == "any"
    assert bypass_choice("LATENT", [("m", "MASK"), ("i", "IMAGE")], 0) is None
