"""Shared fixtures: every backend-agnostic test runs once per installed framework."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.frameworks import installed_frameworks, make_framework


@pytest.fixture(params=installed_frameworks())
def framework(request: pytest.FixtureRequest) -> Any:
    return make_framework(request.param)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20170304)
