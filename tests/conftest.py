import pytest

CACHE_MODES = ["classic", "lru", "none"]


@pytest.fixture(params=CACHE_MODES)
def cache_mode(request) -> str:
    """Each engine behaviour is checked under every cache strategy, as ComfyUI does."""
    return request.param


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    """Whatever persists by default (history, caches) goes to a temporary directory."""
    path = tmp_path / "workbench-data"
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(path))
    return path


@pytest.fixture(scope="session")
def dask_client():
    """A Dask client on a 2-worker LocalCluster (worker processes, loopback only).

    One for the whole session: a cluster takes seconds to start. Tests that
    change the cluster (killing a worker) wait until it has 2 workers again.
    """
    import logging

    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",  # a free port: never a clash in CI
        silence_logs=logging.ERROR,
    )
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()
