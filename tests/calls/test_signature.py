"""X-Twilio-Signature checks against the published test vector and our URL rebuilding."""

from __future__ import annotations

from chalicelib.telephony.signature import candidate_urls, is_valid

FORM = {"CallSid": ["CA1234567890ABCDE"], "Caller": ["+12349013030"], "Digits": ["1234"],
        "From": ["+12349013030"], "To": ["+18005551212"]}


def test_twilio_docs_vector_validates():
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert is_valid("12345", [url], FORM, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not is_valid("12345", [url], {**FORM, "Digits": ["1235"]}, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not is_valid("54321", [url], FORM, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not is_valid("12345", [url], FORM, None)
    assert not is_valid("", [url], FORM, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")


def test_query_rebuilt_in_received_and_generation_order():
    urls = candidate_urls("https://mycompany.com", "/myapp.php", {"foo": "1", "bar": "2"})
    assert is_valid("12345", urls, FORM, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    ours = candidate_urls("https://x.test/api/", "/twilio/status", {"call_id": "c", "org_id": "o"})
    assert "https://x.test/api/twilio/status?org_id=o&call_id=c" in ours
    assert candidate_urls("https://x.test", "/twilio/voice", {}) == ["https://x.test/twilio/voice"]
