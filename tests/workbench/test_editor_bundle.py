"""The committed editor bundle is built from the committed sources.

``build.mjs`` writes a SHA-256 of the JavaScript sources, the lockfile and itself
into the bundle's first line; recomputed here, so CI needs no npm. Where npm's
packages are installed (``npm ci`` in workbench/widgets), the bundle is also
rebuilt and compared byte for byte.
"""

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

WIDGETS = Path(__file__).resolve().parents[2] / "workbench" / "widgets"
HEADER = re.compile(r"/\* workbench editor bundle; sources sha256=([0-9a-f]{64}) \*/")


def source_hash() -> str:
    """The hash build.mjs records (the same files, in the same order)."""
    files = [f"js/{p.name}" for p in sorted((WIDGETS / "js").iterdir(), key=lambda p: p.name)]
    files += ["package-lock.json", "build.mjs"]
    digest = hashlib.sha256()
    for name in files:
        digest.update(name.encode() + b"\n")
        digest.update((WIDGETS / name).read_bytes())
    return digest.hexdigest()


@pytest.mark.parametrize("name", ["editor.js", "editor.css"])
def test_the_committed_bundle_was_built_from_these_sources(name):
    first = (WIDGETS / "static" / name).read_text(encoding="utf-8").split("\n", 1)[0]
    recorded = HEADER.fullmatch(first)
    assert recorded, f"static/{name} has no build header: rebuild with `npm run build`"
    assert recorded.group(1) == source_hash(), (
        f"static/{name} is stale: run `npm ci && npm run build` in workbench/widgets"
    )


def test_the_lockfile_pins_litegraph_0_17_2():
    lock = (WIDGETS / "package-lock.json").read_text()
    assert '"node_modules/@comfyorg/litegraph": {\n      "version": "0.17.2"' in lock


def test_a_rebuild_gives_the_same_bytes(tmp_path):
    if shutil.which("node") is None or not (WIDGETS / "node_modules" / "esbuild").exists():
        reason = "node and the npm packages (npm ci in workbench/widgets) are not installed"
        if os.environ.get("CI") == "true":  # .ci/run installs them: the check must run there
            pytest.fail(reason)
        pytest.skip(reason)
    subprocess.run(["node", "build.mjs", str(tmp_path)], cwd=WIDGETS, check=True, timeout=120)
    for name in ("editor.js", "editor.css"):
        assert (tmp_path / name).read_bytes() == (WIDGETS / "static" / name).read_bytes()
