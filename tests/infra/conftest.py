"""Synthesize the prod stack once per session (Chalice packaging runs pip) and share the template.

Offline apart from PyPI (which ``chalice package`` uses). Until the workflows and media features ship
their ASL files and Dockerfile, minimal valid placeholders written here stand in (never in the repo).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

REPO = Path(__file__).resolve().parents[2]
REAL_ASL = REPO / "chalicelib" / "workflows" / "asl"
REAL_DOCKERFILE = REPO / "media" / "Dockerfile"
MACHINES = ("call_analysis", "campaign_run", "eval_run")

CERT = "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
MEDIA_DOMAIN = "media.example.com"
PUBLIC_BASE_URL = "https://api.example.com"

PLACEHOLDER_ASL = {"Comment": "placeholder until the workflows feature ships its ASL", "StartAt": "Done",
                   "States": {"Done": {"Type": "Pass", "End": True}}}


def real_asl_present() -> bool:
    return all((REAL_ASL / f"{m}.asl.json").is_file() for m in MACHINES)


def placeholder_asl_dir(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for machine in MACHINES:
        (root / f"{machine}.asl.json").write_text(json.dumps(PLACEHOLDER_ASL, indent=2))
    return root


def placeholder_media_context(root: Path) -> Path:
    (root / "media").mkdir(parents=True, exist_ok=True)
    (root / "media" / "Dockerfile").write_text("FROM public.ecr.aws/docker/library/python:3.11-slim\n")
    return root


@dataclass
class Synth:
    config: Any
    stack: Any
    template: Any  # aws_cdk.assertions.Template
    json: dict[str, Any]
    outdir: Path
    template_path: Path
    asl_dir: Path
    real_asl: bool
    env_before: dict[str, str]
    nag_errors: list[str]

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.json["Resources"].items() if v["Type"] == type_}


@pytest.fixture(scope="session")
def synth(tmp_path_factory) -> Synth:
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from infra import nag
    from infra.config import load_config
    from infra.stacks.platform import PlatformStack

    work = tmp_path_factory.mktemp("infra")
    real = real_asl_present()
    asl_dir = REAL_ASL if real else placeholder_asl_dir(work / "asl")
    overrides: dict[str, Any] = {
        "certificate_arn": CERT, "media_domain": MEDIA_DOMAIN, "public_base_url": PUBLIC_BASE_URL,
        "hosted_zone_id": "Z0123456789ABCDEFGHIJ", "hosted_zone_name": "example.com",
        "alarm_email": "ops@example.com", "asl_dir": str(asl_dir),
    }
    if not REAL_DOCKERFILE.is_file():
        overrides["media_context_dir"] = str(placeholder_media_context(work / "media-context"))
    config = load_config("prod", overrides)
    env_before = dict(os.environ)
    cwd = os.getcwd()
    os.chdir(work)  # the Chalice construct writes chalice.out/ into the working directory
    try:
        app = cdk.App(outdir=str(work / "cdk.out"))
        stack = PlatformStack(app, config)
        nag.check(app)  # the AwsSolutions rules run during synth, as in `make synth` (tests/infra/test_nag.py)
        assembly = app.synth()
    finally:
        os.chdir(cwd)
    template_path = work / "cdk.out" / f"{config.stack_name}.template.json"
    data = json.loads(template_path.read_text())
    return Synth(config=config, stack=stack, template=Template.from_json(data), json=data, outdir=work / "cdk.out",
                 template_path=template_path, asl_dir=asl_dir, real_asl=real, env_before=env_before,
                 nag_errors=nag.nag_errors(assembly))
