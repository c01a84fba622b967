"""Lean functions: provider SDKs ship as layers, each attached only to the functions that call it."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from infra import layers

REPO = Path(__file__).resolve().parents[2]
PROVIDER_SDKS = ("twilio", "openai", "resend", "elevenlabs", "aiohttp", "websockets", "httpx", "httpx2")

# What chalicelib imports from each layer (the code paths the layer must serve).
LAYER_IMPORTS = {
    layers.TELEPHONY: "from twilio.rest import Client; from twilio.request_validator import RequestValidator; "
                      "from twilio.http.http_client import TwilioHttpClient; "
                      "from twilio.twiml.voice_response import VoiceResponse, Connect, Stream, Dial; "
                      "from twilio.base.exceptions import TwilioRestException",
    layers.ANALYSIS: "import openai; from openai import OpenAI; OpenAI(api_key='x', base_url='http://127.0.0.1:9')",
}
# Where chalicelib imports each SDK: a new place must be classified in infra/layers.py on purpose.
SDK_USERS = {
    "twilio": {"chalicelib/telephony/signature.py", "chalicelib/telephony/twilio_numbers.py",
               "chalicelib/telephony/twiml.py", "chalicelib/telephony/twilio_client.py"},
    "resend": set(),  # Resend's REST API is called with requests (per-org keys; the SDK keeps one global)
    "httpx": set(),
    "elevenlabs": set(),  # one REST call (GET /v2/voices), no SDK
    "openai": {"chalicelib/integrations/openai_analysis.py"},
}


def _layer_ids(synth) -> dict[str, str]:
    """Layer name -> logical id of its LayerVersion."""
    out = {}
    for lid, res in synth.resources("AWS::Lambda::LayerVersion").items():
        name = res["Properties"]["LayerName"]
        out[name.removeprefix(synth.config.prefix)] = lid
    return out


def _deployment_zip(synth) -> Path:
    return Path(synth.stack.api.chalice._sam_package_dir) / "deployment.zip"  # noqa: SLF001 - the packaged code


def test_every_function_gets_exactly_its_layers(synth):
    ids = _layer_ids(synth)
    assert set(ids) == {layers.TELEPHONY, layers.ANALYSIS}
    functions = synth.resources("AWS::Serverless::Function")
    assert set(functions) == set(layers.FUNCTION_LAYERS)
    for lid, fn in functions.items():
        attached: list[Any] = fn["Properties"].get("Layers", [])
        assert [ref["Ref"] for ref in attached] == [ids[n] for n in layers.FUNCTION_LAYERS[lid]], lid
    assert layers.FUNCTION_LAYERS["APIHandler"] == (layers.TELEPHONY,)
    assert layers.ANALYSIS in layers.FUNCTION_LAYERS["AnalysisSummarize"]


def test_the_shared_package_has_no_provider_sdk(synth):
    with zipfile.ZipFile(_deployment_zip(synth)) as z:
        tops = {name.split("/", 1)[0] for name in z.namelist()}
    assert not tops & set(PROVIDER_SDKS), tops & set(PROVIDER_SDKS)
    assert {"pynamodb", "pydantic", "phonenumbers", "chalicelib", "app.py"} <= tops
    reqs = (REPO / "requirements.txt").read_text().lower()
    for sdk in (*PROVIDER_SDKS, "phonenumbers=="):
        assert not re.search(rf"^{sdk}\b", reqs, re.M), sdk


def test_each_layer_with_the_shared_package_imports_what_chalicelib_uses(synth, tmp_path):
    # Only the deployment package, one layer and the standard library on the path: a dependency the
    # layer file forgot fails here, not in a Lambda at 3 a.m.
    base = tmp_path / "base"
    with zipfile.ZipFile(_deployment_zip(synth)) as z:
        z.extractall(base)
    for name, code in LAYER_IMPORTS.items():
        layer = layers.layer_path(name) / "python"
        assert not {p.name for p in layer.iterdir()} & {"pydantic", "pydantic_core", "requests", "boto3"}, name
        script = f"import sys; sys.path[:0] = [{str(base)!r}, {str(layer)!r}]; {code}"
        proc = subprocess.run([sys.executable, "-S", "-I", "-c", script],  # noqa: S603 - this interpreter
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0, (name, proc.stderr[-2000:])


def test_provider_sdks_are_imported_only_where_classified_and_only_inside_functions():
    for sdk, expected in SDK_USERS.items():
        users = set()
        for path in (REPO / "chalicelib").rglob("*.py"):
            text = path.read_text()
            hits = re.findall(rf"^(\s*)(?:from {sdk}[.\s]|import {sdk}\b)", text, re.M)
            if hits:
                users.add(str(path.relative_to(REPO)))
                assert all(indent for indent in hits), f"{path}: {sdk} imported at module level"
        assert users == expected, sdk
