"""Every Python block of the README runs as written, in a fresh data directory.

The blocks run in order, in one namespace (as the cells of one notebook), in a
child process whose working directory is empty and whose data directory is
new: nothing a block needs may come from this repository's folders or from an
earlier test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNNER = """
import json, sys
blocks = json.loads(sys.stdin.read())
namespace = {"__name__": "__main__"}
for number, block in enumerate(blocks, 1):
    print(f"--- block {number}", flush=True)
    exec(compile(block, f"README block {number}", "exec"), namespace)
"""


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_the_readme_has_python_blocks():
    assert len(python_blocks((ROOT / "README.md").read_text())) >= 3


def test_every_python_block_of_the_readme_runs(tmp_path):
    blocks = python_blocks((ROOT / "README.md").read_text())
    env = {**os.environ, "WORKBENCH_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-c", RUNNER],
        input=json.dumps(blocks),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    assert f"--- block {len(blocks)}" in run.stdout
    leftovers = {p.name for p in tmp_path.iterdir()} - {"data"}
    assert not leftovers, f"the README's code wrote outside its data directory: {leftovers}"
