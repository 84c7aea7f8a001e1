"""Shared test set-up: hypothesis profiles, and a fixture giving both wire dialects."""

from __future__ import annotations

import os

import pytest

# The headless-browser fixtures (Debian's chromium through Playwright), for test_page_browser.py.
from browser import browser, page  # noqa: F401
from hypothesis import settings

from zeus_fsm.protocol.dialects import DIALECT_NAMES, Dialect, get_dialect

# Property tests stay fast by default; `HYPOTHESIS_PROFILE=thorough` runs many more examples.
# No deadline: a loaded 2-core CI machine must not turn slowness into a failure.
settings.register_profile("default", max_examples=100, deadline=None)
settings.register_profile("thorough", max_examples=2_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(params=DIALECT_NAMES)
def dialect(request: pytest.FixtureRequest) -> Dialect:
    """Each test using it runs once per dialect (spec, zeus)."""
    return get_dialect(request.param)
