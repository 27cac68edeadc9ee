"""A pack that needs a module nobody has installed."""

import workbench_test_not_installed_anywhere  # noqa: F401

NODE_CLASS_MAPPINGS = {}
