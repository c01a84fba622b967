"""``python -m devstack`` (what `make dev` runs): the built-in stack plus every stand-in, until Ctrl-C.

This entry point imports both ``devstack.platform`` (which registers the stand-ins) and ``devstack.run``
(the runner), so the runner never imports the platform module that builds on it.
"""

from __future__ import annotations

import sys

from devstack import platform, run

platform.install()
sys.exit(run.run())
