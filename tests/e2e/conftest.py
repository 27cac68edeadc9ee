"""Fixtures of the browser tests: one JupyterLab and one Chromium page per module.

Without Chromium (or Playwright) the tests skip with the reason, except under
``CI=true``, where a missing browser fails the run: CI must exercise them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .lab import CHROMIUM_ARGS, Lab, Page, browser_path

ARTIFACTS = Path(__file__).parent / "artifacts"


def _missing(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if browser_path() is None:
        _missing("no Chromium at /usr/bin/chromium (apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("Playwright is not installed")
    server = Lab(tmp_path_factory.mktemp("lab"), ["04_editor.ipynb"])
    yield server
    server.close()


@pytest.fixture(scope="module")
def page(lab, request):
    from playwright.sync_api import sync_playwright

    artifacts = ARTIFACTS / Path(request.module.__file__).stem
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(lab.workdir / "browser"),
            executable_path=browser_path(),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1500},
        )
        browser_page = context.pages[0] if context.pages else context.new_page()
        browser_page.set_default_timeout(60_000)
        console = []
        browser_page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        browser_page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
        yield Page(browser_page, lab, artifacts)
        (artifacts / "console.log").write_text("\n".join(console))
        context.close()
