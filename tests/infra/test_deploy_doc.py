"""docs/deploy.md's walk-through names things that exist: context keys, stack outputs, secrets, services,
make targets, Twilio callback paths and the smoke test's variables."""

from __future__ import annotations

import re

import pytest

from tests.infra.conftest import REPO

pytestmark = pytest.mark.infra

DOC = (REPO / "docs" / "deploy.md").read_text()


def test_context_keys_are_config_fields():
    from infra.config import StageConfig

    keys = set(re.findall(r"-c (\w+)=", DOC)) - {"key"}  # "-c key=value": the syntax itself
    assert {"stage", "certificate_arn", "media_domain", "public_base_url", "api_domain"} <= keys
    assert keys <= set(StageConfig.model_fields)


def test_outputs_named_in_the_walk_through_exist(synth):
    table = DOC.split("| Output | What it is |")[1].split("\n\n")[0]
    named = set(re.findall(r"^\| `(\w+)`", table, re.M)) | set(re.findall(r", `(\w+)`", table))
    assert {"ApiUrl", "MediaWebSocketUrl", "MediaClusterName", "TwilioSecretArn", "CallTokenSecretArn"} <= named
    assert named <= set(synth.json["Outputs"])


def test_secret_and_service_names_are_the_stacks(synth):
    secrets = {res["Properties"]["Name"] for res in synth.resources("AWS::SecretsManager::Secret").values()}
    assert set(re.findall(r"`(voice-prod-[a-z-]+)`", DOC.split("### 6. Secrets")[1].split("###")[0])) == secrets
    assert f"--service {synth.config.media_service_name} " in DOC


def test_make_targets_twilio_paths_and_smoke_variables_exist():
    import scripts.smoke_test as smoke

    makefile = (REPO / "Makefile").read_text()
    for target in set(re.findall(r"`make (\w[\w-]*)", DOC)):
        assert re.search(rf"^{target}:", makefile, re.M), target
    routes = (REPO / "chalicelib" / "api" / "twilio_callbacks.py").read_text()
    for path in set(re.findall(r"/twilio/[a-z-]+", DOC)) - {"/twilio/stream"}:
        assert f'"{path}"' in routes, path
    assert set(re.findall(r"\b(SMOKE_[A-Z_]+)=", DOC)) == set(smoke.REQUIRED)
