import pytest

from engine import Executor, NodeRegistry
from nodes import folders, register_all
from nodes.diffusion import files


@pytest.fixture(autouse=True)
def data_dir(data_dir):
    """Every node test reads and writes its own input/output/temp folders, never the repo's."""
    folders.configure(base_dir=data_dir)
    yield data_dir
    folders.configure()


@pytest.fixture
def models(data_dir):
    """The models folder of this test's data dir (where the loader looks first)."""
    path = data_dir / "models"
    path.mkdir(parents=True)
    assert files.models_dir() == str(path)
    return path


@pytest.fixture(scope="session")
def registry() -> NodeRegistry:
    reg = NodeRegistry()
    register_all(reg)
    return reg


@pytest.fixture
def ex(registry) -> Executor:
    return Executor(registry, cache="classic")
