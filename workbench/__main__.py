"""``python -m workbench run FILE ...``: see ``workbench.cli``."""

from .cli import main

raise SystemExit(main())
