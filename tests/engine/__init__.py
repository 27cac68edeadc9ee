import pytest

# Helper modules that assert (``queue_nodes.hold``, ``stubs.assert_ok``): rewritten
# as pytest rewrites test modules, so a failure shows its values, not a bare
# AssertionError.
pytest.register_assert_rewrite("tests.engine.queue_nodes", "tests.engine.stubs")
