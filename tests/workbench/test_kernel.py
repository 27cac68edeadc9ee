"""The session in a real Jupyter kernel (jupyter_client), as a notebook drives it."""

import json
import textwrap
import time

import pytest
from jupyter_client import KernelManager

TIMEOUT = 120


class Kernel:
    """A live IPython kernel: ``run(code)`` executes a cell and returns its stdout."""

    def __init__(self, cwd):
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(cwd=str(cwd))
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=TIMEOUT)

    def submit(self, code: str) -> str:
        return self.client.execute(textwrap.dedent(code))

    def collect(self, msg_id: str, timeout: float = TIMEOUT) -> tuple[str, dict | None]:
        """The cell's stdout and its error (None if it succeeded)."""
        out, error = [], None
        deadline = time.monotonic() + timeout
        while True:
            message = self.client.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream" and content["name"] == "stdout":
                out.append(content["text"])
            elif kind == "error":
                error = content
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(out), error

    def run(self, code: str, timeout: float = TIMEOUT) -> str:
        out, error = self.collect(self.submit(code), timeout)
        if error is not None:
            raise AssertionError("cell failed:\n" + "\n".join(error["traceback"]))
        return out

    def value(self, expression: str):
        """A JSON-able expression's value, evaluated in the kernel."""
        return json.loads(
            self.run(f"import json; print(json.dumps({expression}))").strip().splitlines()[-1]
        )

    def close(self):
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture
def kernel(tmp_path):
    k = Kernel(tmp_path)
    yield k
    k.close()


SETUP = """
    import time
    from workbench import Workbench
    wb = Workbench(data_dir="data", persist={persist})
    LOG = []
"""


def test_redefining_a_node_reruns_exactly_its_nodes_and_descendants(kernel):
    kernel.run(SETUP.format(persist=False))
    kernel.run("""
        @wb.node
        def source(n: int = 1) -> int:
            LOG.append("source"); return n

        @wb.node
        def scale(x: int, by: int = 2) -> int:
            LOG.append("scale"); return x * by

        @wb.node
        def plus(x: int, y: int = 1) -> int:
            LOG.append("plus"); return x + y

        g = wb.graph()
        s = g.source(n=3)
        a = g.scale(x=s)            # a node of the type we will redefine
        b = g.plus(x=a)             # its descendant
        c = g.plus(x=s, y=10)       # unrelated to scale
        r = wb.run(g, outputs=[b, c], progress=False)
    """)
    assert kernel.value("sorted(r.executed)") == ["plus_1", "plus_2", "scale_1", "source_1"]
    assert kernel.value("[r[b], r[c]]") == [7, 13]
    kernel.run("""
        @wb.node
        def scale(x: int, by: int = 2) -> int:   # the cell re-run with new code
            LOG.append("scale v2"); return x * by * 10
        r = wb.run(g, outputs=[b, c], progress=False)
    """)
    assert kernel.value("sorted(r.executed)") == ["plus_1", "scale_1"]
    assert kernel.value("sorted(r.cached)") == ["plus_2", "source_1"]
    assert kernel.value("r[b]") == 61
    assert "redefined" in kernel.value("wb.explain(a)")


def test_interrupt_stops_the_run_and_the_kernel_answers_the_next_cell(kernel, tmp_path):
    kernel.run(SETUP.format(persist=False))
    kernel.run("""
        @wb.node
        def quick(n: int = 1) -> int:
            return n

        @wb.node
        def forever(x: int) -> int:   # a pure-Python loop that reports no progress
            open("started", "w").close()  # (the test cannot ask the busy kernel)
            while True:
                x = (x * 31 + 7) % 1000003
    """)
    msg_id = kernel.submit("""
        g = wb.graph()
        q = g.quick(n=2)
        f = g.forever(x=q)
        r = wb.run(g, outputs=[f], progress=False)
        print("status", r.status)
    """)
    deadline = time.monotonic() + 30
    while not (tmp_path / "started").exists():
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.1)
    started = time.monotonic()
    kernel.manager.interrupt_kernel()  # what Jupyter's interrupt button does (SIGINT)
    out, error = kernel.collect(msg_id, timeout=60)
    assert error is None, error and error["traceback"]
    assert "status interrupted" in out
    assert time.monotonic() - started < 15
    # The kernel is alive, and the next run works (the finished upstream node is cached).
    assert kernel.value("1 + 1") == 2
    kernel.run("""
        g2 = wb.graph()
        q2 = g2.quick(n=2)
        r2 = wb.run(g2, progress=False, outputs=[q2])
    """)
    assert kernel.value("r2.status") == "success"
    assert kernel.value("sorted(r2.cached)") == ["quick_1"]


def test_a_new_kernel_serves_the_expensive_node_from_the_disk_cache(tmp_path):
    code = textwrap.dedent(SETUP.format(persist=True)) + textwrap.dedent(
        """
        import torch
        CALLS = []

        @wb.node
        def expensive(size: int = 64) -> torch.Tensor:
            CALLS.append(size)
            return torch.arange(size * size, dtype=torch.float32).reshape(size, size)

        @wb.node
        def total(t: torch.Tensor) -> float:
            return float(t.sum())

        g = wb.graph()
        e = g.expensive(size=64)
        s = g.total(t=e)
        r = wb.run(g, outputs=[s], progress=False)
    """
    )
    first = Kernel(tmp_path)
    try:
        first.run(code)
        assert first.value("CALLS") == [64]
        expected = first.value("r[s]")
    finally:
        first.close()
    second = Kernel(tmp_path)  # "the next morning": a new kernel, same data dir
    try:
        second.run(code)
        assert second.value("CALLS") == []  # the function did not run: served from disk
        assert second.value("r[s]") == expected
        assert second.value("'total_1' in r.cached and 'expensive_1' in r.cached")
    finally:
        second.close()
