"""Run every benchmark in turn and print its figures (`make bench`). Nothing is asserted.

Each benchmark runs in its own process so one's imports and moto state cannot skew another.
Pass names to run a subset: `python bench/run_all.py cold_import api_latency`.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["cold_import", "api_latency", "resources_ddb_calls", "outbound_call", "campaign_dispatch", "control_latency",
         "media_latency", "turn_taking"]


def main(argv: list[str]) -> int:
    names = argv or ORDER
    failed = []
    for name in names:
        script = HERE / f"{name}.py"
        print(f"\n=== {name} ===", flush=True)
        started = time.monotonic()
        rc = subprocess.call([sys.executable, str(script)], cwd=HERE.parent)  # noqa: S603 - this interpreter on the bench scripts beside this file
        print(f"--- {name}: exit {rc}, {time.monotonic() - started:.1f} s", flush=True)
        if rc != 0:
            failed.append(name)
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
