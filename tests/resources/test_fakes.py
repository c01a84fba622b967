"""The fakes speak the real protocols: checked with the official SDKs / plain HTTP, no app involved."""

from __future__ import annotations

import httpx
import pytest


def test_fake_twilio_incoming_numbers_page_through_the_sdk():
    from twilio.base.exceptions import TwilioRestException
    from twilio.rest import Client

    from sandbox.twilio import FakeTwilio

    with FakeTwilio() as fake:
        made = [fake.provision_number(f"+3120123456{i}") for i in range(5)]
        client = Client(fake.account_sid, fake.auth_token)
        client.api.base_url = fake.base_url
        listed = client.incoming_phone_numbers.list(page_size=2)  # follows next_page_uri
        assert [n.sid for n in listed] == [m["sid"] for m in made]
        one = client.incoming_phone_numbers.list(phone_number="+31201234563")
        assert [n.sid for n in one] == [made[3]["sid"]]
        pn = client.incoming_phone_numbers(made[0]["sid"]).fetch()
        assert pn.phone_number == "+31201234560" and pn.voice_url
        updated = client.incoming_phone_numbers(made[0]["sid"]).update(voice_url="https://x.example/voice")
        assert updated.voice_url == "https://x.example/voice"
        with pytest.raises(TwilioRestException) as err:
            client.incoming_phone_numbers("PN" + "f" * 32).update(voice_url="https://x.example/voice")
        assert err.value.status == 404 and err.value.code == 20404


def test_fake_elevenlabs_v1_voices_and_auth():
    from elevenlabs.client import ElevenLabs
    from elevenlabs.core.api_error import ApiError

    from sandbox.elevenlabs import FakeElevenLabs

    with FakeElevenLabs(api_keys={"xi-k"}) as fake:
        voices = ElevenLabs(api_key="xi-k", base_url=fake.base_url).voices.get_all().voices
        assert [v.voice_id for v in voices] == [v["voice_id"] for v in fake.voices]
        labels, languages = voices[0].labels, voices[0].verified_languages
        assert labels is not None and languages is not None
        assert labels["gender"] == "female" and languages[0].language == "en"
        with pytest.raises(ApiError) as err:
            ElevenLabs(api_key="wrong", base_url=fake.base_url).voices.get_all()
        assert err.value.status_code == 401
        r = httpx.get(fake.base_url + "/v2/voices?page_size=500", headers={"xi-api-key": "xi-k"})
        assert r.status_code == 422


def test_fake_resend_auth_and_domain_lifecycle():
    from sandbox.resend import FakeResend

    with FakeResend(api_keys={"re_k"}) as fake:
        url = fake.base_url
        assert httpx.get(url + "/domains").status_code == 401
        assert httpx.get(url + "/domains", headers={"Authorization": "Bearer nope"}).status_code == 403
        auth = {"Authorization": "Bearer re_k"}
        created = httpx.post(url + "/domains", json={"name": "mail.example.com"}, headers=auth)
        assert created.status_code == 201 and created.json()["status"] == "not_started"
        dom = created.json()["id"]
        assert httpx.post(url + "/domains", json={"name": "mail.example.com"}, headers=auth).status_code == 403
        bad = httpx.post(url + "/domains", json={"name": "bad name"}, headers=auth)
        assert bad.status_code == 422 and bad.json()["name"] == "validation_error"
        assert httpx.post(url + "/emails", json={"from": "a@mail.example.com", "to": ["b@x.example"],
                                                 "subject": "s", "text": "t"}, headers=auth).status_code == 403
        assert httpx.post(f"{url}/domains/{dom}/verify", headers=auth).json() == {"object": "domain", "id": dom}
        assert httpx.get(f"{url}/domains/{dom}", headers=auth).json()["status"] == "verified"
        sent = httpx.post(url + "/emails", json={"from": "a@mail.example.com", "to": ["b@x.example"],
                                                 "subject": "s", "text": "t"}, headers=auth)
        assert sent.status_code == 200 and sent.json()["id"] == fake.emails[0]["id"]
        assert httpx.delete(f"{url}/domains/{dom}", headers=auth).json()["deleted"] is True
        assert httpx.get(f"{url}/domains/{dom}", headers=auth).status_code == 404
