"""Shared fixtures: every backend-agnostic test runs once per installed framework."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from tests.frameworks import installed_frameworks, make_framework


@pytest.fixture(params=installed_frameworks())
def framework(request: pytest.FixtureRequest) -> Iterator[Any]:
    adapter = make_framework(request.param)
    yield adapter
    # JAX's adapter switches x64 on for float64 tests; put the global setting back.
    getattr(adapter, "close", lambda: None)()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20170304)
