"""Debian's Chromium driven by Playwright: no browser download, ever.

Playwright's own browsers are never installed (`playwright install` is not
run anywhere): the tests point it at the system Chromium. Where Chromium or
the playwright package is missing the browser tests skip with the reason,
except under CI=true, where they fail: .ci/run installs both, and a skip
there would hide a broken install step.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

#: The real binary first: /usr/bin/chromium is a shell wrapper adding /etc/chromium.d flags.
CANDIDATES = (os.environ.get("CHROMIUM_PATH", ""), "/usr/lib/chromium/chromium",
              shutil.which("chromium") or "", shutil.which("chromium-browser") or "")
VIEWPORT = {"width": 1280, "height": 800}


def find_chromium() -> str | None:
    for path in CANDIDATES:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


CHROMIUM = find_chromium()
HAVE_PLAYWRIGHT = importlib.util.find_spec("playwright") is not None  # imported only when used
MISSING = CHROMIUM is None or not HAVE_PLAYWRIGHT
REASON = ("the browser tests need Debian's chromium (apt-get install chromium "
          "fonts-liberation2) and the playwright package (pip install -e '.[dev]'); found "
          f"chromium={CHROMIUM!r}, playwright={HAVE_PLAYWRIGHT}")
IN_CI = os.environ.get("CI", "") not in ("", "0", "false")

#: Skip where the browser is missing, but never in CI (the fixture fails there instead).
browser_required = pytest.mark.skipif(MISSING and not IN_CI, reason=REASON)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if MISSING:
        pytest.fail("CI: " + REASON)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            chromium_sandbox=False,  # as root in a container the sandbox cannot start
            args=["--disable-gpu", "--disable-quic"], timeout=60_000)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    try:
        yield opened
    finally:
        context.close()
