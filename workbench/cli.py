"""The command line: ``python -m workbench run FILE`` runs a graph headless, outside Jupyter.

    python -m workbench run FILE [--set NODE.INPUT=VALUE ...] [--output NODE ...]
                                 [--data-dir DIR] [--custom-nodes PATH ...] [--quiet]

FILE is an API prompt (ComfyUI's "Save (API)" JSON, also wrapped as
``{"prompt": {...}}``), a UI workflow (``.json``, versions 0.4 and 1.0) or a PNG
holding either (what ComfyUI and ``SaveImage`` write). ``open_source`` is the
one place that reads FILE; workflows and PNGs go through ``wb.open``, whose
report is printed on stderr when something in the file cannot be run.

``--set NODE.INPUT=VALUE`` changes an input before the run: NODE is a node id
or a node's title (``_meta.title``), VALUE is JSON if it parses (``3``,
``0.5``, ``true``, ``[1, 2]``), else text. ``--output NODE`` runs only what
that node needs (repeatable; default: every output node). ``--data-dir`` is
the session's data folder (default ``$WORKBENCH_DATA_DIR`` or ``.workbench``):
files are written to its ``output`` folder. ``--custom-nodes`` loads ComfyUI
node packs first.

A text progress bar goes to stderr (unless ``--quiet``); each file written to
the output folder is printed to stdout, one path a line. Exit status: 0 when
the run succeeds; 1 when it fails, with the report (the failing node and its
error, or the validation errors) on stderr; 2 for a file or an argument that
cannot be used; 130 when interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

MAX_FILE_BYTES = 64 * 2**20  # a prompt file larger than this is refused unread

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


class UsageError(Exception):
    """A file or an argument that cannot be used; the message says which and why."""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command != "run":
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    from .session import Workbench

    wb = None
    try:
        wb = Workbench(data_dir=args.data_dir)
        for path in args.custom_nodes:
            report = wb.load_custom_nodes(path)
            if not report.ok:
                print(str(report), file=sys.stderr)
        prompt = open_source(wb, Path(args.file))
        for setting in args.set:
            apply_setting(prompt, setting, wb.registry)
        outputs = [find_node(prompt, name) for name in args.output] or None
        result = wb.run(prompt, outputs=outputs, progress=not args.quiet)
        for path in written_files(wb, result.outputs):
            print(path)
        if result.ok:
            return 0
        print(repr(result), file=sys.stderr)
        return EXIT_INTERRUPTED if result.status == "interrupted" else EXIT_FAILED
    except UsageError as exc:
        print(f"workbench run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        if wb is not None:
            wb.close()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m workbench", description="Run node graphs outside Jupyter."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="run a graph file headless",
        description="Run an API prompt (ComfyUI's 'Save (API)' JSON) and write its outputs "
        "to the output folder.",
    )
    run.add_argument("file", help="the API prompt file (.json)")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NODE.INPUT=VALUE",
        help="set an input before the run (NODE: id or title; VALUE: JSON or text)",
    )
    run.add_argument(
        "--output",
        action="append",
        default=[],
        metavar="NODE",
        help="run only what this node needs (repeatable)",
    )
    run.add_argument("--data-dir", default=None, help="the data folder (default: .workbench)")
    run.add_argument(
        "--custom-nodes",
        action="append",
        default=[],
        metavar="PATH",
        help="load a ComfyUI node pack, or a folder of packs, first",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def open_source(wb, path: Path) -> dict:
    """The API prompt FILE holds, or that its workflow converts to (``wb.open``).

    What a workflow holds that cannot run (unknown node types, values that fit no
    input...) is printed as the report; a file with nothing to run is refused.
    """
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise UsageError(f"{path}: {size:,} bytes, more than a prompt file may have")
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    if data.startswith(b"\x89PNG"):
        return _converted(wb, data, path)
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, RecursionError):
        raise UsageError(f"{path} is not JSON text") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path} is not JSON: {exc.msg} (line {exc.lineno})") from None
    if isinstance(document, dict) and isinstance(document.get("nodes"), list):
        return _converted(wb, data, path)  # a UI workflow
    if isinstance(document, dict) and isinstance(document.get("prompt"), dict):
        document = document["prompt"]  # as sent to ComfyUI's /prompt
    if not isinstance(document, dict) or not all(
        isinstance(node, dict) and "class_type" in node for node in document.values()
    ):
        raise UsageError(
            f"{path} is not an API prompt: expected an object of nodes, "
            '{"id": {"class_type": ..., "inputs": {...}}, ...}'
        )
    return document


def _converted(wb, data: bytes, path: Path) -> dict:
    graph, report = wb.open(data, name=path.name)
    if not report.ok:
        print(repr(report), file=sys.stderr)
    prompt = graph.to_prompt()  # what can run: placeholders left out, links to them dangle
    for node_id, state in graph.state().items():  # titles, for --set and --output
        if node_id in prompt and state["ui"].get("title"):
            prompt[node_id]["_meta"] = {"title": state["ui"]["title"]}
    if not prompt:
        raise UsageError(f"{path}: nothing in it can run (see the report above)")
    return prompt


def find_node(prompt: dict, name: str) -> str:
    """The id of the node ``name`` names: its id, or its title (``_meta.title``) if unique."""
    if name in prompt:
        return name
    titled = [i for i, node in prompt.items() if _title(node) == name]
    if len(titled) == 1:
        return titled[0]
    if titled:
        raise UsageError(f"{len(titled)} nodes have the title {name!r} ({', '.join(titled)})")
    shown = ", ".join(f"{i} ({node.get('class_type')})" for i, node in list(prompt.items())[:20])
    raise UsageError(f"no node {name!r} in the prompt; its nodes: {shown}")


def _title(node: dict) -> Any:
    meta = node.get("_meta")
    return meta.get("title") if isinstance(meta, dict) else None


def apply_setting(prompt: dict, setting: str, registry) -> None:
    """Apply ``NODE.INPUT=VALUE`` (see the module docstring) to ``prompt``."""
    target, equals, text = setting.partition("=")
    if not equals:
        raise UsageError(f"--set {setting!r}: expected NODE.INPUT=VALUE")
    # NODE may hold dots (a title, "outer:inner" ids do not), INPUT too ("values.a"):
    # take the longest node id or title that the target starts with.
    names = set(prompt) | {t for t in map(_title, prompt.values()) if isinstance(t, str)}
    matches = [n for n in names if target.startswith(n + ".") and len(target) > len(n) + 1]
    if not matches:
        raise UsageError(f"--set {setting!r}: no node id or title before the '.' is in the prompt")
    name = max(matches, key=len)
    node_id, input_name = find_node(prompt, name), target[len(name) + 1 :]
    node = prompt[node_id]
    node_type = registry.get(node.get("class_type"))
    if node_type is not None:
        spec = node_type.spec()
        if spec.input(input_name) is None or spec.input(input_name).kind == "hidden":
            known = ", ".join(i.name for i in spec.inputs)
            raise UsageError(
                f"--set {setting!r}: node {node_id} ({node_type.name}) has no input "
                f"{input_name!r}; its inputs: {known}"
            )
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        value = text
    if not isinstance(node.get("inputs"), dict):
        node["inputs"] = {}
    node["inputs"][input_name] = value


def written_files(wb, outputs: dict) -> list[str]:
    """The paths of the files a run's output nodes wrote to the output folder."""
    root = Path(wb.output_dir)
    paths = []
    for ui in outputs.values():
        if not isinstance(ui, dict):
            continue
        for key in ("images", "gifs", "audio", "video", "files"):
            items = ui.get(key)
            for item in items if isinstance(items, list) else []:
                if not isinstance(item, dict) or item.get("type") != "output":
                    continue
                name, subfolder = item.get("filename"), item.get("subfolder") or ""
                if isinstance(name, str) and isinstance(subfolder, str):
                    path = root / subfolder / name
                    if path.is_file():
                        paths.append(os.fspath(path))
    return paths
