"""scripts/smoke_test.py refuses clearly, and calls nothing, without its settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_refuses_without_credentials():
    proc = subprocess.run([sys.executable, "scripts/smoke_test.py"], cwd=ROOT, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin"}, timeout=30, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("smoke test not run: set SMOKE_BASE_URL, SMOKE_API_KEY, SMOKE_ASSISTANT_ID, "
                                   "SMOKE_DESTINATION (see docs/deploy.md, 'Smoke test')")
    assert proc.stdout == ""
