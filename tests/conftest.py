import pytest

CACHE_MODES = ["classic", "lru", "none"]


@pytest.fixture(params=CACHE_MODES)
def cache_mode(request) -> str:
    """Each engine behaviour is checked under every cache strategy, as ComfyUI does."""
    return request.param
