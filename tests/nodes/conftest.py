import pytest

from engine import Executor, NodeRegistry
from nodes import folders, register_all


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    """Every node test reads and writes its own input/output/temp folders, never the repo's."""
    base = tmp_path / "workbench-data"
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(base))
    folders.configure(base_dir=base)
    yield base
    folders.configure()


@pytest.fixture(scope="session")
def registry() -> NodeRegistry:
    reg = NodeRegistry()
    register_all(reg)
    return reg


@pytest.fixture
def ex(registry) -> Executor:
    return Executor(registry, cache="classic")
