"""Fixtures for the sandbox fakes: each fake on an ephemeral port, a fresh registry per test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from sandbox.registry import Registry


@pytest.fixture
def registry() -> Registry:
    return Registry()


@pytest.fixture
def restore_environ() -> Iterator[None]:
    """Put os.environ back as it was: devstack components export URLs and keys with ``stack.set_env``,
    and monkeypatch.delenv(raising=False) records nothing for a variable that was not set."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
