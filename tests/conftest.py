"""Shared test fixtures: the repository root, and both wire dialects."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from zeus_fsm.dialects import DIALECT_NAMES, Dialect, get_dialect

REPO = Path(__file__).resolve().parents[1]

# Property tests stay fast by default; `HYPOTHESIS_PROFILE=thorough` runs more examples.
settings.register_profile("default", max_examples=100, deadline=None)
settings.register_profile("thorough", max_examples=2_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture(params=DIALECT_NAMES)
def dialect(request: pytest.FixtureRequest) -> Dialect:
    return get_dialect(request.param)
