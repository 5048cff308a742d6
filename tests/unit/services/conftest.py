"""Fixtures: every service over in-memory fakes (see support.build_env)."""

from __future__ import annotations

import pytest

from tests.unit.services.support import Env, build_env, standard_world


@pytest.fixture
def env() -> Env:
    e = build_env()
    standard_world(e)
    return e


@pytest.fixture
def closed_env() -> Env:
    e = build_env(fail_open=False)
    standard_world(e)
    return e
