"""What `import app` (every Lambda's cold start) does and does not do: bench/cold_import.py measures the
time; this checks the work that keeps it short stays out of import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
import app
from pydantic import BaseModel
built = sorted(f"{name}.{k}" for name, mod in list(sys.modules.items()) if name.startswith("chalicelib")
               for k, v in vars(mod).items()
               if isinstance(v, type) and issubclass(v, BaseModel) and v.__module__ == name
               and getattr(v, "__pydantic_complete__", False) and "[" not in k)
print(json.dumps({"modules": sorted(sys.modules), "built": built}))
"""


def _probe() -> dict[str, list[str]]:
    env = {"AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True, text=True,  # noqa: S603
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_app_loads_no_service_storage_sdk_or_settings_and_builds_no_validator():
    seen = _probe()
    modules = set(seen["modules"])
    heavy = {m for m in modules if m.split(".")[0] in {"pynamodb", "twilio", "openai", "pydantic_settings",
                                                       "requests", "jsonschema", "cryptography"}}
    assert not heavy, sorted(heavy)
    deferred = {m for m in modules if m.startswith(("chalicelib.services", "chalicelib.storage"))
                or m == "chalicelib.settings"}
    assert not deferred, sorted(deferred)
    assert seen["built"] == [], seen["built"]
