"""Folders: where they are, which names stay inside them, and ComfyUI's save counter."""

from __future__ import annotations

import os

import pytest

from nodes import folders


def test_default_folders_are_under_the_data_dir(data_dir, monkeypatch, tmp_path):
    assert folders.get_input_directory() == str(data_dir / "input")
    assert folders.get_output_directory() == str(data_dir / "output")
    assert folders.get_temp_directory() == str(data_dir / "temp")

    folders.configure()  # defaults: $WORKBENCH_DATA_DIR, else .workbench in the working dir
    assert folders.get_output_directory() == str(data_dir / "output")
    monkeypatch.delenv("WORKBENCH_DATA_DIR")
    monkeypatch.chdir(tmp_path)
    assert folders.get_temp_directory() == str(tmp_path / ".workbench" / "temp")


def test_each_folder_can_be_configured(tmp_path):
    folders.configure(base_dir=tmp_path / "b", output_dir=tmp_path / "out")
    assert folders.get_input_directory() == str(tmp_path / "b" / "input")
    assert folders.get_output_directory() == str(tmp_path / "out")


def test_reading_does_not_create_folders(data_dir):
    assert folders.list_files("input") == []
    assert not data_dir.exists()


@pytest.mark.parametrize("name", ["a.png", "sub/a.png", "sub/../a.png", "./a.png", "no-such.png"])
def test_names_inside_the_folder_are_accepted(name, data_dir):
    assert folders.problem_with_name(name) is None
    assert folders.resolve(name) == os.path.normpath(str(data_dir / "input" / name))


@pytest.mark.parametrize(
    "name, problem",
    [
        ("../a.png", "uses '..' to reach outside the input directory"),
        ("sub/../../a.png", "uses '..' to reach outside the input directory"),
        ("..", "uses '..' to reach outside the input directory"),
        ("/etc/passwd", "is an absolute path"),
        ("", "the file name is empty"),
        ("a\x00.png", "NUL"),
    ],
)
def test_names_reaching_outside_are_refused(name, problem):
    assert problem in folders.problem_with_name(name)
    with pytest.raises(folders.PathEscapeError, match=problem.split("'")[0]):
        folders.resolve(name)


def test_a_symlink_pointing_out_is_refused_and_one_pointing_in_is_not(data_dir, tmp_path):
    inside = data_dir / "input"
    (inside / "real").mkdir(parents=True)
    (tmp_path / "secret.png").write_bytes(b"x")
    (inside / "out.png").symlink_to(tmp_path / "secret.png")
    (inside / "outdir").symlink_to(tmp_path)
    (inside / "in.png").symlink_to(inside / "real")

    assert "symbolic link" in folders.problem_with_name("out.png")
    assert "outside the input directory" in folders.problem_with_name("outdir/secret.png")
    assert folders.problem_with_name("in.png") is None


def test_list_files_lists_images_at_the_top_sorted(data_dir, tmp_path):
    inside = data_dir / "input"
    (inside / "sub").mkdir(parents=True)
    for name in ["b.png", "a.JPG", "notes.txt", "sub/c.png"]:
        (inside / name).write_bytes(b"x")
    (tmp_path / "secret.png").write_bytes(b"x")
    (inside / "link.png").symlink_to(tmp_path / "secret.png")
    assert folders.list_files("input") == ["a.JPG", "b.png"]
    assert folders.list_files("input", extensions=None) == ["a.JPG", "b.png", "notes.txt"]


def test_annotated_names_pick_the_folder(data_dir):
    assert folders.split_annotation("a.png [output]") == ("a.png", "output")
    assert folders.split_annotation("a.png") == ("a.png", "input")
    assert folders.get_annotated_filepath("a.png [temp]") == str(data_dir / "temp" / "a.png")
    (data_dir / "output").mkdir(parents=True)
    (data_dir / "output" / "a.png").write_bytes(b"x")
    assert folders.exists_annotated_filepath("a.png [output]")
    assert not folders.exists_annotated_filepath("a.png")
    assert not folders.exists_annotated_filepath("../a.png [output]")


def test_save_path_counts_on_from_the_highest_existing_file(data_dir):
    folder, filename, counter, subfolder, prefix = folders.get_save_image_path("run/img")
    assert (folder, filename, counter, subfolder) == (
        str(data_dir / "output" / "run"),
        "img",
        1,
        "run",
    )
    for name in [
        "img_00001_.png",
        "img_00007_.png",
        "img_x_.png",
        "IMG2_00009_.png",
        "other_00050_.png",
    ]:
        (data_dir / "output" / "run" / name).write_bytes(b"x")
    assert folders.get_save_image_path("run/img")[2] == 8


def test_save_path_variables(data_dir):
    _, filename, _, subfolder, prefix = folders.get_save_image_path(
        "%width%/x_%height%", None, 64, 32
    )
    assert (subfolder, filename, prefix) == ("64", "x_32", "64/x_32")


@pytest.mark.parametrize(
    "prefix, problem",
    [
        ("../x", "uses '..'"),
        ("a/../../x", "uses '..'"),
        ("/tmp/x", "is an absolute path"),
    ],
)
def test_save_prefixes_reaching_outside_are_refused(prefix, problem):
    assert problem in folders.problem_with_save_prefix(prefix)
    with pytest.raises(folders.PathEscapeError, match=problem):
        folders.get_save_image_path(prefix)


def test_save_prefix_through_a_symlink_out_is_refused(data_dir, tmp_path):
    (data_dir / "output").mkdir(parents=True)
    (data_dir / "output" / "link").symlink_to(tmp_path)
    assert "symbolic link" in folders.problem_with_save_prefix("link/x")
    with pytest.raises(folders.PathEscapeError, match="symbolic link"):
        folders.get_save_image_path("link/x")
    assert folders.problem_with_save_prefix("ComfyUI") is None
    assert folders.problem_with_save_prefix("a/b/%year%-x") is None
