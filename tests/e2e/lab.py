"""A real JupyterLab and a real browser for the end-to-end tests.

``Lab`` starts JupyterLab on 127.0.0.1 (a token, ``--allow-root``, its config,
runtime, settings and workspaces in a temporary directory, the news popup off)
in a folder holding copies of the notebooks, and waits for ``/api/status``.
``browser_path()`` finds Debian's Chromium. ``Page`` wraps a Playwright page
with what the tests need: open a notebook and run all its cells, run code in
its kernel and read what it prints, and find things on the editor's canvas.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--js-flags=--allow-natives-syntax",  # V8's %HasFastProperties in tests (test_editor.py)
]


def browser_path() -> str | None:
    return CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    def __init__(self, workdir: Path, notebooks: list[str]):
        self.workdir = workdir
        self.token = "e2e-" + os.urandom(8).hex()
        self.port = _free_port()
        root = workdir / "root"
        root.mkdir(parents=True)
        for name in notebooks:
            shutil.copy(ROOT / "notebooks" / name, root / name)
        settings = workdir / "settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True)
        (settings / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        # Widget state saved with the notebook: a reopened notebook shows the editor's graph.
        widgets = workdir / "settings" / "@jupyter-widgets" / "jupyterlab-manager"
        widgets.mkdir(parents=True)
        (widgets / "plugin.jupyterlab-settings").write_text(json.dumps({"saveState": True}))
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(workdir / "config"),
            "JUPYTER_RUNTIME_DIR": str(workdir / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(workdir / "settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(workdir / "workspaces"),
            "WORKBENCH_DATA_DIR": str(workdir / "data"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        self.log = open(workdir / "jupyterlab.log", "wb")  # noqa: SIM115 (closed in close())
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyterlab",
                "--no-browser",
                "--allow-root",
                "--ip=127.0.0.1",
                f"--port={self.port}",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={root}",
                "--LabApp.expose_app_in_browser=True",
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=root,
        )
        self._wait_ready()

    @property
    def root(self) -> Path:
        return self.workdir / "root"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited: see {self.workdir / 'jupyterlab.log'}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("JupyterLab did not answer on /api/status")

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


class Page:
    """The notebook page, and the helpers the tests drive it with."""

    def __init__(self, page, lab: Lab, artifacts: Path):
        self.page = page
        self.lab = lab
        self.artifacts = artifacts
        self.shots = 0
        self.editor = 0  # which editor of the page (in document order) the helpers look at

    def open(self, notebook: str) -> None:
        self.page.goto(f"{self.lab.url}/lab/tree/{notebook}?token={self.lab.token}")
        self.page.wait_for_function(
            "() => window.jupyterapp && jupyterapp.shell.currentWidget"
            " && jupyterapp.shell.currentWidget.sessionContext"
            " && jupyterapp.shell.currentWidget.sessionContext.session"
            " && jupyterapp.shell.currentWidget.sessionContext.session.kernel"
            " && jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'",
            timeout=90_000,
        )

    def run_all(self, timeout: float = 300) -> None:
        self.page.evaluate("() => jupyterapp.commands.execute('notebook:run-all-cells')")
        self.page.wait_for_function(
            "() => { const nb = jupyterapp.shell.currentWidget.content;"
            " return nb.widgets.every(c => c.model.type !== 'code' || c.model.executionCount)"
            " && jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'; }",
            timeout=timeout * 1000,
        )

    def run_cell(self, index: int) -> None:
        """Run the notebook's cell ``index`` (0-based) and wait until the kernel is idle."""
        self.page.evaluate(
            "async (i) => { const panel = jupyterapp.shell.currentWidget;"
            " panel.content.activeCellIndex = i;"
            " await jupyterapp.commands.execute('notebook:run-cell'); }",
            index,
        )
        self.page.wait_for_function(
            "(i) => { const panel = jupyterapp.shell.currentWidget;"
            " return panel.content.widgets[i].model.executionCount"
            " && panel.sessionContext.session.kernel.status === 'idle'; }",
            arg=index,
            timeout=600_000,
        )

    def kernel(self, code: str, timeout: float = 120) -> str:
        """Run ``code`` in the notebook's kernel; what it printed (an error raises)."""
        result = self.page.evaluate(
            """async (code) => {
                const kernel = jupyterapp.shell.currentWidget.sessionContext.session.kernel;
                const future = kernel.requestExecute({code, store_history: false});
                let out = '', error = null;
                future.onIOPub = (msg) => {
                    if (msg.header.msg_type === 'stream') out += msg.content.text;
                    if (msg.header.msg_type === 'error') error = msg.content.ename + ': ' + msg.content.evalue;
                };
                await future.done;
                return {out, error};
            }""",
            code,
        )
        if result["error"]:
            raise AssertionError(f"kernel code failed: {result['error']}\n{code}")
        return result["out"]

    def value(self, expression: str):
        return json.loads(self.kernel(f"import json; print(json.dumps({expression}))").strip())

    def show_editor(self) -> None:
        """Scroll the canvas to the top of the notebook's view (mouse actions need it seen)."""
        self.page.evaluate(
            "(i) => document.querySelectorAll('.wb-canvas-box')[i].scrollIntoView({block: 'start'})",
            self.editor,
        )
        self.page.wait_for_timeout(300)  # the notebook's windowing settles

    def js(self, body: str, arg=None):
        """Evaluate ``body`` with ``view`` (the editor's first view) in scope."""
        return self.page.evaluate(
            f"([arg, index]) => {{ const view ="
            f" document.querySelectorAll('.wb-editor')[index].__wbView; {body} }}",
            [arg, self.editor],
        )

    def wait_js(self, predicate: str, arg=None, timeout: float = 60) -> None:
        self.page.wait_for_function(
            f"([arg, index]) => {{ const el = document.querySelectorAll('.wb-editor')[index];"
            f" const view = el && el.__wbView; if (!view) return false; {predicate} }}",
            arg=[arg, self.editor],
            timeout=timeout * 1000,
        )

    def at(self, node_id: str, dx: float, dy: float) -> tuple[float, float]:
        """Page coordinates of the point (dx, dy) of node ``node_id`` (graph units, from its
        top-left body corner; the title is above, at negative dy)."""
        return tuple(
            self.js(
                "const n = view.session.byId.get(arg[0]);"
                " const p = view.canvas.ds.convertOffsetToCanvas([n.pos[0] + arg[1], n.pos[1] + arg[2]]);"
                " const r = view.canvasEl.getBoundingClientRect();"
                " return [r.left + p[0], r.top + p[1]];",
                [node_id, dx, dy],
            )
        )

    def slot(self, node_id: str, output: bool, index: int) -> tuple[float, float]:
        """Page coordinates of a node's input or output socket."""
        return tuple(
            self.js(
                "const n = view.session.byId.get(arg[0]);"
                " const g = arg[1] ? n.getOutputPos(arg[2]) : n.getInputPos(arg[2]);"
                " const p = view.canvas.ds.convertOffsetToCanvas(g);"
                " const r = view.canvasEl.getBoundingClientRect();"
                " return [r.left + p[0], r.top + p[1]];",
                [node_id, output, index],
            )
        )

    def widget(self, node_id: str, name: str, where: str = "right") -> tuple[float, float]:
        """Page coordinates on a node's widget: its ``left`` or ``right`` arrow, or ``middle``."""
        x_y = self.js(
            "const n = view.session.byId.get(arg[0]);"
            " const w = n.widgets.find(w => w.name === arg[1]);"
            " return [n.size[0], w.y + 10];",
            [node_id, name],
        )
        width, y = x_y
        x = {"left": 22, "right": width - 22, "middle": width / 2}[where]
        return self.at(node_id, x, y)

    def shot(self, name: str) -> None:
        self.shots += 1
        self.page.screenshot(path=str(self.artifacts / f"{self.shots:02d}-{name}.png"))
