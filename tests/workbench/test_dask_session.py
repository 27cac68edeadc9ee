"""A session whose nodes run on a Dask cluster: ``Workbench(cluster=...)``."""

import os

import pytest
import torch
from PIL import Image as PILImage

from engine import Image
from nodes import folders
from workbench import Workbench


def test_a_session_runs_its_graph_on_the_cluster(tmp_path, dask_client):
    wb = Workbench(data_dir=tmp_path, cluster=dask_client)  # with its disk cache
    try:
        wb.input_dir.mkdir(parents=True, exist_ok=True)
        PILImage.new("RGB", (4, 4), (255, 0, 0)).save(wb.input_dir / "in.png")

        @wb.node
        def where(image: Image) -> str:
            """Where it ran: the process, and the output folder it sees."""
            return f"{os.getpid()}:{folders.get_output_directory()}"

        g = wb.graph()
        image, _ = g.LoadImage(image="in.png")  # in the kernel: its input folder
        inverted = g.ImageInvert(image=image)  # on a worker
        seen = g.where(image=inverted)
        save = g.SaveImage(images=inverted, filename_prefix="out")  # in the kernel
        r = wb.run(g, outputs=[save, seen], progress=False)
        assert r.status == "success", r
        assert r.executed == {"LoadImage_1", "ImageInvert_1", "where_1", "SaveImage_1"}
        assert [p.name for p in wb.output_dir.iterdir()] == ["out_00001_.png"]
        assert torch.equal(r[inverted][0, 0, 0], torch.tensor([0.0, 1.0, 1.0]))
        pid, folder = wb.value(seen).split(":", 1)
        assert int(pid) != os.getpid()  # ran on a worker...
        assert folder == str(wb.output_dir)  # ...in this session's folders

        again = wb.run(g, outputs=[save, seen], progress=False)
        assert again.executed == set()
        assert again.cached == r.executed
    finally:
        wb.close()


def test_closing_twice_or_after_the_client_closed_is_quiet(tmp_path, dask_client):
    from distributed import Client

    address = dask_client.scheduler.address
    wb = Workbench(data_dir=tmp_path / "a", persist=False, cluster=address)  # its own client
    wb.close()
    wb.close()
    assert wb.executor.backend.client.status == "closed"
    client = Client(address)
    wb = Workbench(data_dir=tmp_path / "b", persist=False, cluster=client)
    client.close()  # the user's, closed first (as the notebook's last cell may)
    wb.close()
    assert dask_client.status == "running"  # the other clients are left alone


def test_a_value_the_run_did_not_need_says_how_to_get_it(tmp_path, dask_client):
    """In a new session on the same disk cache, the output node comes from the disk and
    the values it was made of stay where they are (on no worker yet): asking for one
    says so, and a run with it as the output computes it."""
    for attempt in ("first", "second"):
        wb = Workbench(data_dir=tmp_path, cluster=dask_client)
        try:
            g = wb.graph()
            grid = g.ImageGrid(images=g.GenerateShapes(size=8, batch_size=2, seed=5), columns=2)
            g.PreviewImage(images=grid)
            r = wb.run(g, progress=False)
            if attempt == "second":
                assert r.executed == set() and r.cached == {"PreviewImage_1"}
                with pytest.raises(KeyError, match="not computed by this run.*outputs="):
                    wb.value(grid)
                r = wb.run(g, outputs=[grid], progress=False)
            assert wb.value(grid).shape == (1, 12, 22, 3)
        finally:
            wb.close()
