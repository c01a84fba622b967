"""SSRF: every URL the platform will call refuses non-public targets at input, and again at connect time."""

from __future__ import annotations

import socket

import pytest

from chalicelib import netguard
from chalicelib.webhooks import delivery
from sandbox.webhook_receiver import WebhookReceiver

BAD_URLS = [
    "http://169.254.169.254/latest/meta-data/",   # cloud metadata
    "http://10.0.0.5/hook", "http://172.16.3.4/x", "http://192.168.1.1/x", "http://100.64.0.1/x",
    "http://127.0.0.1:8080/x", "http://0.0.0.0/x", "http://224.0.0.1/x", "http://240.0.0.1/x",
    "http://255.255.255.255/x",
    "http://[::1]:8080/x", "http://[::]/x", "http://[fe80::1]/x", "http://[fd00:ec2::254]/latest",
    "http://[ff02::1]/x",
    "http://[::ffff:127.0.0.1]/x", "http://[::ffff:a9fe:a9fe]/x", "http://[64:ff9b::a00:5]/x",
    "http://[2002:a00:5::]/x",
    "http://2130706433/x", "http://0x7f000001/x", "http://0177.0.0.1/x", "http://127.1/x",
    "http://0xa9.0xfe.0xa9.0xfe/x", "http://2852039166/latest",
    "http://localhost:3000/x", "http://LOCALHOST./x", "http://api.localhost/x", "http://metadata/x",
    "http://metadata.google.internal/computeMetadata/v1/", "http://printer.local/x", "http://intranet/x",
    "http://user:pw@127.0.0.1/x", "ftp://example.com/x", "file:///etc/passwd", "http://exa mple.com/",
    "http://example.com\\@127.0.0.1/",
]
GOOD_URLS = ["https://hooks.example.com/x", "http://93.184.215.14:8080/x", "https://[2606:4700::1111]/x",
             "https://api.acme-dental.nl/v1/tools?x=1"]


@pytest.mark.parametrize("url", BAD_URLS)
def test_check_url_refuses_non_public_targets(url):
    with pytest.raises(netguard.UnsafeUrl):
        netguard.check_url(url, allow_private_targets=False)


@pytest.mark.parametrize("url", GOOD_URLS)
def test_check_url_accepts_public_targets(url):
    assert netguard.check_url(url, allow_private_targets=False) == url


def _tool(url):
    return {"name": "lookup", "url": url}


# Every input field that holds a URL the platform calls, as (method, path, body(url), param).
FIELDS = [
    ("POST", "/assistants", lambda u: {"name": "A", "webhook_url": u}, "webhook_url"),
    ("POST", "/agents", lambda u: {"name": "A", "webhook_url": u}, "webhook_url"),
    ("PATCH", "/assistants/{aid}", lambda u: {"webhook_url": u}, "webhook_url"),
    ("POST", "/assistants", lambda u: {"name": "A", "llm_config": {"provider": "openai", "tools": [_tool(u)]}},
     "llm_config.tools[0].url"),
    ("POST", "/assistants", lambda u: {"name": "A", "llm_config": {"provider": "openai", "tools": [
        {"type": "function", "function": {"name": "lookup"}, "server": {"url": u}}]}}, "llm_config.tools[0].url"),
    ("POST", "/tool-templates", lambda u: {"name": "T", "tool_type": "function",
                                          "tool_config": {"name": "lookup", "url": u}}, "tool_config.url"),
    ("POST", "/calls/outbound", lambda u: {"destination": "+31612345678", "assistant": {
        "name": "One-off", "webhook_url": u, "llm_config": {"provider": "xai_realtime"}}}, "assistant.webhook_url"),
    ("POST", "/calls/outbound", lambda u: {"destination": "+31612345678", "assistant_id": "{aid}",
                                           "assistant_override": {"webhook_url": u}},
     "assistant_override.webhook_url"),
]


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.5/hook",
                                 "http://[::1]:8080/x", "http://2130706433/x", "http://[::ffff:127.0.0.1]/x",
                                 "http://localhost/x"])
@pytest.mark.parametrize("method,path,body,param", FIELDS)
def test_every_url_field_refuses_private_targets_at_input(api, method, path, body, param, url):
    aid = api.post("/assistants", {"name": "Existing"}).data["assistant"]["id"]
    payload = body(url)
    if payload.get("assistant_id") == "{aid}":
        payload["assistant_id"] = aid
    r = api.request(method, path.format(aid=aid), payload)
    assert r.status_code == 400, (path, url, r.body)
    assert r.data["param"] == param, r.data
    assert url not in r.data["message"]


def test_allow_private_urls_lets_local_development_use_local_targets(api, monkeypatch):
    from chalicelib.settings import reset_settings

    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "true")
    reset_settings()
    try:
        r = api.post("/assistants", {"name": "A", "webhook_url": "http://127.0.0.1:9000/hook"})
        assert r.status_code == 201, r.body
    finally:
        monkeypatch.delenv("ALLOW_PRIVATE_URLS")
        reset_settings()


@pytest.fixture
def receiver():
    server = WebhookReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def rebinding_dns(monkeypatch):
    """A public-looking name whose DNS answer is 127.0.0.1 (the resolver is patched, not the guard)."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        return real("127.0.0.1" if host == "hooks.rebind.example.com" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def _public_name_url(receiver):
    port = receiver.base_url.rsplit(":", 1)[1]
    return f"http://hooks.rebind.example.com:{port}/webhook"


def test_delivery_to_a_name_resolving_to_loopback_is_refused_at_send_time(aws, receiver, rebinding_dns):
    url = _public_name_url(receiver)
    assert netguard.check_url(url, allow_private_targets=False) == url  # passes the input check
    out = delivery.post(url, "status-update", b"{}", None, timeout=2)
    assert out["status_code"] is None and out["error"].startswith("network error"), out
    tool = delivery.call_tool_webhook(url, None, {"message": {}})
    assert tool["result"] is None and tool["error"]
    assert receiver.received == []


def test_delivery_to_a_local_name_works_when_private_urls_are_allowed(aws, receiver, rebinding_dns, monkeypatch):
    from chalicelib.settings import reset_settings

    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "true")
    reset_settings()
    try:
        out = delivery.post(_public_name_url(receiver), "status-update", b"{}", None, timeout=2)
        assert out["status_code"] == 200 and len(receiver.received) == 1
    finally:
        monkeypatch.delenv("ALLOW_PRIVATE_URLS")
        reset_settings()


def test_the_guard_checks_https_connections_before_the_handshake(aws, receiver, rebinding_dns):
    import requests

    port = receiver.base_url.rsplit(":", 1)[1]
    with pytest.raises(requests.ConnectionError) as err:
        netguard.public_session().post(f"https://hooks.rebind.example.com:{port}/webhook", data=b"{}", timeout=2)
    assert "non-public address" in str(err.value)
    assert receiver.received == []
