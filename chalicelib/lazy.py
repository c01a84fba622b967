"""A module proxy that imports its module on first attribute access.

The API modules name their service module at import time but only call it inside handlers. Importing
every service (and through it pynamodb, botocore and the storage models) when `app` is imported costs
the cold start of every Lambda, including the ones that serve a single route, so the import waits for
the first call that needs it.
"""

from __future__ import annotations

import importlib
import threading
from types import ModuleType
from typing import Any

_lock = threading.Lock()


class LazyModule:
    """Stands in for `module_name` until an attribute is read, then delegates to the real module."""

    __slots__ = ("_name", "_module")

    def __init__(self, module_name: str) -> None:
        self._name = module_name
        self._module: ModuleType | None = None

    def _load(self) -> ModuleType:
        module = self._module
        if module is None:
            with _lock:  # the import machinery is thread-safe; the lock only avoids double work
                module = self._module
                if module is None:
                    module = importlib.import_module(self._name)
                    self._module = module
        return module

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._load(), attr)

    def __repr__(self) -> str:
        state = "loaded" if self._module is not None else "not loaded"
        return f"<lazy module {self._name!r} ({state})>"


def lazy_module(module_name: str) -> Any:
    """A proxy typed as Any; callers keep the real module's type under TYPE_CHECKING."""
    return LazyModule(module_name)
