import pytest

from engine import Executor, NodeRegistry
from nodes import folders, register_all


@pytest.fixture(autouse=True)
def data_dir(data_dir):
    """Every node test reads and writes its own input/output/temp folders, never the repo's."""
    folders.configure(base_dir=data_dir)
    yield data_dir
    folders.configure()


@pytest.fixture(scope="session")
def registry() -> NodeRegistry:
    reg = NodeRegistry()
    register_all(reg)
    return reg


@pytest.fixture
def ex(registry) -> Executor:
    return Executor(registry, cache="classic")
