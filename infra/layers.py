"""Lambda layers: provider SDKs shipped only to the functions that call them.

``chalice package`` builds one deployment package from requirements.txt for every function of the app,
so the SDKs that only some functions use (Twilio, OpenAI) live in layers built from
``layers/<name>.txt`` and attached per function. Each layer is installed with ``pip --no-deps`` for the
Lambda platform (manylinux x86_64, CPython 3.11): its file lists the whole closure beyond the base
requirements. Built once per file content and cached under ``infra/.layers-cache``.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from infra.config import REPO_ROOT

LAYERS_DIR = REPO_ROOT / "layers"
CACHE_DIR = REPO_ROOT / "infra" / ".layers-cache"

TELEPHONY = "telephony"
ANALYSIS = "analysis"

# Every function of the Chalice app, by the logical id `chalice package` gives it, and the layers it needs.
# A function missing here fails the synth (infra/stacks/api.py), so a new one is classified on purpose.
FUNCTION_LAYERS: dict[str, tuple[str, ...]] = {
    "APIHandler": (TELEPHONY,),  # dials and answers Twilio
    "AnalysisLoad": (),
    "AnalysisSummarize": (ANALYSIS,),
    "AnalysisStructured": (ANALYSIS,),
    "AnalysisStore": (),
    "AnalysisDeliver": (),
    "AnalysisNotify": (),
    "AnalysisUsage": (),
    "AnalysisCleanup": (),
    "AnalysisFailure": (),
    "CampaignTick": (),
    "CampaignDispatch": (TELEPHONY,),  # places the calls
    "CampaignContinue": (),
    "CampaignFailure": (),
    "WebhookRetry": (),
    "EvalPrepare": (),
    "EvalScenarioStart": (TELEPHONY,),  # places the test call
    "EvalScenarioPoll": (TELEPHONY, ANALYSIS),  # may end an overdue test call; the judge (OpenAI)
    "EvalFinish": (),
    "EvalFailure": (),
    "CallReaper": (TELEPHONY,),  # ends calls whose media task died, hanging up the phone leg
}

# The Lambda runtime's platform, whatever machine synthesizes the stack.
PIP_PLATFORM = ("--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", "3.11",
                "--only-binary=:all:")


def layer_names() -> list[str]:
    return sorted(p.stem for p in LAYERS_DIR.glob("*.txt"))


def requirements_file(name: str) -> Path:
    return LAYERS_DIR / f"{name}.txt"


def layer_path(name: str) -> Path:
    """A directory holding ``python/<packages>``, the layout Lambda puts on sys.path (built if needed)."""
    spec = requirements_file(name)
    digest = hashlib.sha256(spec.read_bytes() + " ".join(PIP_PLATFORM).encode()).hexdigest()[:16]
    out = CACHE_DIR / f"{name}-{digest}"
    if (out / ".complete").exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    target = out / "python"
    subprocess.run(  # noqa: S603 - this interpreter's pip on a file of the repository
        [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
         "--no-compile", *PIP_PLATFORM, "--target", str(target), "-r", str(spec)],
        check=True,
    )
    for cache in target.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)
    (out / ".complete").write_text(spec.read_text())
    return out
