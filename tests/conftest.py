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
