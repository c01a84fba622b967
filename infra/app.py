"""CDK entry point: one stack per stage (``cdk synth -c stage=dev|prod``; default dev).

Run by the CDK CLI (cdk.json) or directly (``python infra/app.py``, as ``make synth`` does); both write
the cloud assembly to infra/cdk.out unless CDK_OUTDIR says otherwise.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

INFRA = Path(__file__).resolve().parent
sys.path.insert(0, str(INFRA.parent))  # the repo root: infra.* and chalicelib.* (tables come from the models)

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from infra import nag  # noqa: E402
from infra.config import StageConfig, config_from_context  # noqa: E402
from infra.stacks.media import MediaImageMissing  # noqa: E402
from infra.stacks.platform import PlatformStack  # noqa: E402
from infra.stacks.workflows import AslError  # noqa: E402


def build(app: cdk.App, config: StageConfig | None = None) -> PlatformStack:
    stack = PlatformStack(app, config or config_from_context(app.node))
    nag.check(app)
    return stack


def _argv_context(argv: list[str]) -> dict[str, str]:
    """``python infra/app.py stage=prod certificate_arn=...``: the same keys as ``cdk -c key=value``."""
    context = {}
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep:
            raise SystemExit(f"arguments are key=value context entries, got {arg!r}")
        context[key] = value
    return context


def main() -> None:
    context = _argv_context(sys.argv[1:])
    outdir = str(Path(os.environ.get("CDK_OUTDIR") or INFRA / "cdk.out").resolve())
    # `chalice package` needs a region, and the Chalice construct writes chalice.out/ into the working
    # directory: keep that scratch output out of the repo.
    os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("CDK_DEFAULT_REGION", "us-east-1"))
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="voice-synth-") as scratch:
        os.chdir(scratch)
        try:
            app = cdk.App(outdir=outdir, context=context or None)
            build(app)
            problems = nag.nag_errors(app.synth())
        except (MediaImageMissing, AslError, ValidationError, ValueError) as exc:
            # A missing file or a bad setting: one clear line, not a jsii traceback.
            raise SystemExit(f"synth failed: {exc}") from None
        finally:
            os.chdir(cwd)
    if problems:
        raise SystemExit("cdk-nag (AwsSolutions) found unsuppressed errors; fix them or suppress each with its "
                         "reason in infra/nag.py:\n  " + "\n  ".join(problems))
    print(f"synthesized {outdir}")


if __name__ == "__main__":
    main()
