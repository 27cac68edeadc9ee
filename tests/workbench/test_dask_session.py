"""A session whose nodes run on a Dask cluster: ``Workbench(cluster=...)``."""

import os

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
