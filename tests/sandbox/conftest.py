"""Fixtures for the sandbox fakes: each fake on an ephemeral port, a fresh registry per test."""

from __future__ import annotations

import pytest

from sandbox.registry import Registry


@pytest.fixture
def registry() -> Registry:
    return Registry()
