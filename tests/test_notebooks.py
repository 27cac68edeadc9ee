"""The tutorial notebooks, as a new user runs them: every cell from top to bottom in a real
kernel, then every code cell once more, from the last to the first (a user scrolls back
and re-runs a cell), then the whole notebook in a new kernel on the same data folder (a
restart: the disk cache is warm), without an error, and leaving nothing in the temp
directory.

Each notebook runs from a copy in pytest's ``tmp_path``, with the session's data in
``WORKBENCH_DATA_DIR`` there and the worktree's packages on the kernel's ``PYTHONPATH``.

The temp directory. The kernel gets a ``TMPDIR`` of its own, an empty folder: Python's
``tempfile`` (``gettempdir``, ``mkdtemp``, ``NamedTemporaryFile``...) and the libraries
using it then write there, and the check is that it is still empty after all three. The
machine's own ``/tmp`` is shared with every other process, whose files come and go
while a notebook runs, so comparing its listing before and after would fail for them.
Jupyter and ipykernel put nothing there (the connection file is in Jupyter's runtime
folder, nbclient keeps the IPython history in memory), so no name is ignored.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
CELL_TIMEOUT = 240  # seconds a cell may take (the diffusion ones take a few)

# The notebooks this test does not run, and why (every other notebooks/0*.ipynb runs).
NOT_RUN_HERE = {
    "04_editor.ipynb": "the editor needs a browser to draw in: tests/e2e runs it in JupyterLab",
}


# What others leave in the temp folder, by name, and why it is not ours to remove.
NOT_OURS = {
    "dask-scratch-space": "a Dask LocalCluster's workers' folder (Dask's default, for spilling)",
}


def tutorials() -> list:
    params = []
    for path in sorted(NOTEBOOKS.glob("0*.ipynb")):
        reason = NOT_RUN_HERE.get(path.name)
        marks = [pytest.mark.skip(reason=reason)] if reason else []
        params.append(pytest.param(path, id=path.stem, marks=marks))
    return params


def test_every_notebook_left_out_exists():
    """The list names notebooks that exist: an entry a rename left behind is noticed."""
    assert set(NOT_RUN_HERE) <= {path.name for path in NOTEBOOKS.glob("0*.ipynb")}


def problems(cell) -> list[str]:
    """What went wrong in a cell's outputs: errors, and tracebacks a thread printed."""
    found = []
    for output in cell.get("outputs", []):
        if output.output_type == "error":
            found.append(f"{output.ename}: {output.evalue}")
        elif output.output_type == "stream" and "Traceback (most recent call last)" in output.text:
            found.append(output.text)
    return found


@pytest.mark.timeout(600)  # a hang guard: two passes over notebook 03 on a busy machine
@pytest.mark.parametrize("source", tutorials())
def test_a_tutorial_runs_and_each_cell_runs_again(source: Path, tmp_path, data_dir):
    work = tmp_path / "notebooks"  # the notebook with the files beside it that it opens
    shutil.copytree(source.parent, work, ignore=shutil.ignore_patterns(".*", "*.ipynb"))
    path = Path(shutil.copy(source, work))
    kernel_tmp = tmp_path / "kernel-tmp"
    kernel_tmp.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "WORKBENCH_DATA_DIR": str(data_dir),
        "TMPDIR": str(kernel_tmp),
    }
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(work)}},
    )
    code = [(index, cell) for index, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    with client.setup_kernel(env=env):
        started = time.perf_counter()
        for index, cell in code:
            client.execute_cell(cell, index)  # raises CellExecutionError if the cell fails
            assert not problems(cell), f"cell {index} of {source.name}: {problems(cell)}"
        seconds = time.perf_counter() - started
        # Each cell once more, the last first: re-run alone, a cell finds what the cells
        # after it did (the notebook's state once it has run), not its own earlier state.
        for index, cell in reversed(code):
            client.execute_cell(cell, index)
            assert not problems(cell), f"cell {index} of {source.name}, re-run: {problems(cell)}"
    # A new kernel (a restart, or the next day) on the same data folder: results come from
    # the disk cache, values it cannot keep (a loaded model) only from running again.
    with client.setup_kernel(env=env):
        for index, cell in code:
            client.execute_cell(cell, index)
            assert not problems(cell), (
                f"cell {index} of {source.name}, new kernel: {problems(cell)}"
            )
    print(f"{source.name}: {seconds:.1f} s, then every cell again, then all in a new kernel")

    assert sorted(set(os.listdir(kernel_tmp)) - set(NOT_OURS)) == []
