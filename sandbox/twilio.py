"""Fake Twilio REST API (api.twilio.com/2010-04-01) that the real ``twilio`` SDK talks to.

Point the SDK at it with ``client.api.base_url = fake.base_url`` (or TWILIO_API_URL in settings).
Form-encoded bodies, HTTP Basic auth (Account SID + Auth Token), JSON responses.

Resources are added by the features that need them:
- IncomingPhoneNumbers (numbers: voice URL / status callback configuration)
- Calls create / update, with signed status callbacks (calls)
"""

from __future__ import annotations

import threading
import time
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from sandbox import ids
from sandbox.httpserver import FakeHTTPServer, FakeRequest, FakeResponse

API = "/2010-04-01/Accounts/(?P<account>AC[0-9a-fA-F]{32})"


def sid(prefix: str) -> str:
    return prefix + ids.token_hex(16)


FINAL_CALL_STATUSES = ("completed", "busy", "failed", "no-answer", "canceled")


class _Multi(dict):
    """Repeated form fields for RequestValidator (it reads ``getlist`` when present)."""

    def getlist(self, name: str) -> list[str]:
        return list(self[name])


def post_form(url: str, form: list[tuple[str, str]], headers: dict[str, str]) -> tuple[int, str]:
    """Default callback sender: a real HTTP form POST (dev stack). Returns (status, body)."""
    import urllib.error
    import urllib.request

    if urlsplit(url).scheme not in ("http", "https"):  # what Twilio would call; never file: or others
        return 0, f"unsupported callback URL: {url}"
    body = urlencode(form).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={  # noqa: S310 - scheme checked above
        "Content-Type": "application/x-www-form-urlencoded", "User-Agent": "TwilioProxy/1.1", **headers})
    try:
        with urllib.request.urlopen(request, timeout=15) as resp:  # noqa: S310 - scheme checked above
            return resp.status, resp.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", errors="replace")
    except OSError as exc:  # our app is down or unreachable: Twilio would log an 11200 error
        return 0, f"unreachable: {exc}"


class FakeTwilio(FakeHTTPServer):
    def __init__(self, account_sid: str | None = None, auth_token: str = "test-auth-token", **kw: Any):  # noqa: S107 - the fake's default credential; no account behind it
        super().__init__(**kw)
        self.account_sid = account_sid or ("AC" + "0" * 32)
        self.auth_token = auth_token
        self.incoming_numbers: dict[str, dict[str, Any]] = {}  # PN sid -> resource
        self.calls: dict[str, dict[str, Any]] = {}  # CA sid -> resource
        self._incoming_number_routes()
        self._call_routes()

    def authorized(self, req: FakeRequest) -> FakeResponse | None:
        """None when Basic auth matches this account, else Twilio's 401 body."""
        creds = req.basic_auth()
        if creds != (self.account_sid, self.auth_token) or req.params.get("account") != self.account_sid:
            return FakeResponse(401, {"code": 20003, "message": "Authenticate", "more_info":
                                      "https://www.twilio.com/docs/errors/20003", "status": 401})
        return None

    # ---------------------------------------------------------------- IncomingPhoneNumbers (numbers feature)
    def _incoming_number_routes(self) -> None:
        self.route("GET", API + r"/IncomingPhoneNumbers\.json", self._list_incoming_numbers)
        self.route("GET", API + r"/IncomingPhoneNumbers/(?P<sid>PN[0-9a-fA-F]{32})\.json", self._fetch_incoming_number)
        self.route("POST", API + r"/IncomingPhoneNumbers/(?P<sid>PN[0-9a-fA-F]{32})\.json",
                   self._update_incoming_number)

    def provision_number(self, phone_number: str, friendly_name: str | None = None,
                         voice_url: str | None = None) -> dict[str, Any]:
        """Pre-provision a number in this fake account (as if bought in the Twilio console)."""
        pn_sid = sid("PN")
        uri = f"/2010-04-01/Accounts/{self.account_sid}/IncomingPhoneNumbers/{pn_sid}.json"
        resource = {
            "account_sid": self.account_sid, "address_requirements": "none", "address_sid": None,
            "api_version": "2010-04-01", "beta": False,
            "capabilities": {"voice": True, "sms": True, "mms": False, "fax": False},
            "date_created": "Mon, 16 Nov 2026 10:00:00 +0000", "date_updated": "Mon, 16 Nov 2026 10:00:00 +0000",
            "emergency_status": "Inactive", "emergency_address_sid": None, "emergency_address_status": "unregistered",
            "friendly_name": friendly_name or phone_number, "identity_sid": None, "origin": "twilio",
            "phone_number": phone_number, "sid": pn_sid, "sms_application_sid": "", "sms_fallback_method": "POST",
            "sms_fallback_url": "", "sms_method": "POST", "sms_url": "", "status_callback": "",
            "status_callback_method": "POST", "trunk_sid": None, "uri": uri, "voice_application_sid": None,
            "voice_caller_id_lookup": False, "voice_fallback_method": "POST", "voice_fallback_url": None,
            "voice_method": "POST", "voice_url": voice_url or "https://demo.twilio.com/welcome/voice/",
            "voice_receive_mode": "voice", "status": "in-use", "bundle_sid": None,
            "subresource_uris": {"assigned_add_ons": uri.replace(".json", "/AssignedAddOns.json")},
        }
        with self.lock:
            self.incoming_numbers[pn_sid] = resource
        return dict(resource)

    def incoming_number_updates(self) -> list[dict[str, str]]:
        """Form fields of every IncomingPhoneNumber update this fake received, in order."""
        with self.lock:
            return [dict(r.form_first(), sid=r.params.get("sid", "")) for r in self.requests
                    if r.method == "POST" and "/IncomingPhoneNumbers/" in r.path]

    def _not_found(self, req: FakeRequest) -> FakeResponse:
        return FakeResponse(404, {"code": 20404, "message": f"The requested resource {req.path} was not found",
                                  "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404})

    def _list_incoming_numbers(self, req: FakeRequest) -> FakeResponse:
        denied = self.authorized(req)
        if denied:
            return denied
        q = {k: v[0] for k, v in req.query.items()}
        size = max(1, min(int(q.get("PageSize", "50")), 1000))
        page = int(q.get("Page", "0"))
        with self.lock:
            items = list(self.incoming_numbers.values())
        if q.get("PhoneNumber"):
            items = [n for n in items if n["phone_number"] == q["PhoneNumber"]]
        if q.get("FriendlyName"):
            items = [n for n in items if n["friendly_name"] == q["FriendlyName"]]
        chunk = items[page * size:(page + 1) * size]
        base = f"/2010-04-01/Accounts/{self.account_sid}/IncomingPhoneNumbers.json"
        extra = f"&PhoneNumber={q['PhoneNumber']}" if q.get("PhoneNumber") else ""
        more = (page + 1) * size < len(items)
        return FakeResponse(200, {
            "incoming_phone_numbers": chunk,
            "end": page * size + max(len(chunk) - 1, 0), "start": page * size, "page": page, "page_size": size,
            "first_page_uri": f"{base}?PageSize={size}&Page=0{extra}",
            "previous_page_uri": f"{base}?PageSize={size}&Page={page - 1}{extra}" if page > 0 else None,
            "next_page_uri": f"{base}?PageSize={size}&Page={page + 1}{extra}" if more else None,
            "uri": f"{base}?PageSize={size}&Page={page}{extra}",
        })

    def _fetch_incoming_number(self, req: FakeRequest) -> FakeResponse:
        denied = self.authorized(req)
        if denied:
            return denied
        with self.lock:
            resource = self.incoming_numbers.get(req.params["sid"])
        return FakeResponse(200, dict(resource)) if resource else self._not_found(req)

    def _update_incoming_number(self, req: FakeRequest) -> FakeResponse:
        denied = self.authorized(req)
        if denied:
            return denied
        fields = {"VoiceUrl": "voice_url", "VoiceMethod": "voice_method", "StatusCallback": "status_callback",
                  "StatusCallbackMethod": "status_callback_method", "FriendlyName": "friendly_name",
                  "VoiceFallbackUrl": "voice_fallback_url", "VoiceFallbackMethod": "voice_fallback_method"}
        if getattr(self, "fail_number_updates", False):  # failure injection for tests
            return FakeResponse(500, {"code": 20500, "message": "Internal Server Error", "status": 500,
                                      "more_info": "https://www.twilio.com/docs/errors/20500"})
        form = req.form_first()
        for name in ("VoiceMethod", "StatusCallbackMethod", "VoiceFallbackMethod"):
            if name in form and form[name] not in ("GET", "POST"):
                return FakeResponse(400, {"code": 21205, "message": f"{name} is not valid", "status": 400,
                                          "more_info": "https://www.twilio.com/docs/errors/21205"})
        with self.lock:
            resource = self.incoming_numbers.get(req.params["sid"])
            if resource is None:
                return self._not_found(req)
            for form_name, attr in fields.items():
                if form_name in form:
                    resource[attr] = form[form_name]
            resource["date_updated"] = "Tue, 24 Nov 2026 12:00:00 +0000"
            return FakeResponse(200, dict(resource))

    # ---------------------------------------------------------------- Calls (calls feature)
    # Status callbacks are form POSTs signed like Twilio's (X-Twilio-Signature over URL + sorted
    # fields, HMAC-SHA1 with the auth token), sent through ``callback_sender`` so tests can aim
    # them at chalice.test.Client and the dev stack at a real HTTP server.
    def _call_routes(self) -> None:
        self.route("POST", API + r"/Calls\.json", self._create_call)
        self.route("GET", API + r"/Calls/(?P<sid>CA[0-9a-fA-F]{32})\.json", self._fetch_call)
        self.route("POST", API + r"/Calls/(?P<sid>CA[0-9a-fA-F]{32})\.json", self._update_call)
        self.callback_sender: Any = post_form
        # callable(call_resource: dict, twiml: str), run when a call is answered (dev stack: simulated caller).
        self.on_answer: Any = None
        # Set to "answered" (or another outcome of ``progress``) to progress every new call by itself.
        self.auto_progress: str | None = None
        self.refuse_calls: dict[str, tuple[int, int, str]] = {}  # To number -> (HTTP status, code, message)
        self.create_delay = 0.0  # seconds Calls create takes (a slow Twilio)
        self.ring_seconds = 0.0  # seconds an auto-progressed call rings before it is answered
        self.callback_results: list[tuple[str, str, int]] = []  # (event, url, HTTP status of our app)
        self._sequence: dict[str, int] = {}
        self.call_forms: dict[str, list[tuple[str, str]]] = {}  # CA sid -> create form, repeated fields kept
        self.stream_actions: list[tuple[str, int, str]] = []  # (CA sid, our status, TwiML) per <Connect action>

    def _twilio_error(self, status: int, code: int, message: str) -> FakeResponse:
        return FakeResponse(status, {"code": code, "message": message, "status": status,
                                     "more_info": f"https://www.twilio.com/docs/errors/{code}"})

    def _create_call(self, req: FakeRequest) -> FakeResponse:
        denied = self.authorized(req)
        if denied:
            return denied
        if self.create_delay:
            time.sleep(self.create_delay)
        pairs = parse_qsl(req.body.decode(), keep_blank_values=True)
        form = {k: v for k, v in pairs}
        if not form.get("To"):
            return self._twilio_error(400, 21201, "No 'To' number is specified")
        if not form.get("From"):
            return self._twilio_error(400, 21213, "No 'From' number is specified")
        if not (form.get("Url") or form.get("Twiml") or form.get("ApplicationSid")):
            return self._twilio_error(400, 21205, "Url, Twiml or ApplicationSid is required")
        if len(form.get("Twiml", "")) > 4000:
            return self._twilio_error(400, 21628, "Twiml is longer than 4000 characters")
        if form["To"] in self.refuse_calls:
            status, code, message = self.refuse_calls[form["To"]]
            return self._twilio_error(status, code, message)
        call_sid = sid("CA")
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Calls/{call_sid}.json"
        resource = {
            "sid": call_sid, "account_sid": self.account_sid, "to": form["To"], "to_formatted": form["To"],
            "from": form["From"], "from_formatted": form["From"], "status": "queued", "direction": "outbound-api",
            "api_version": "2010-04-01", "answered_by": None, "caller_name": None, "duration": None,
            "start_time": None, "end_time": None, "price": None, "price_unit": "USD", "parent_call_sid": None,
            "phone_number_sid": None, "forwarded_from": None, "group_sid": None, "queue_time": "0",
            "trunk_sid": None, "annotation": None,
            "date_created": "Tue, 24 Nov 2026 12:00:00 +0000", "date_updated": "Tue, 24 Nov 2026 12:00:00 +0000",
            "uri": uri, "subresource_uris": {"notifications": uri.replace(".json", "/Notifications.json"),
                                             "recordings": uri.replace(".json", "/Recordings.json")},
        }
        with self.lock:
            self.calls[call_sid] = resource
            self.call_forms[call_sid] = pairs
            self._sequence[call_sid] = 0
        if self.auto_progress:
            outcome = self.auto_progress
            threading.Timer(0.05, lambda: self.progress(call_sid, outcome)).start()
        return FakeResponse(201, dict(resource))

    def _fetch_call(self, req: FakeRequest) -> FakeResponse:
        denied = self.authorized(req)
        if denied:
            return denied
        with self.lock:
            resource = self.calls.get(req.params["sid"])
        if resource is None:
            return self._twilio_error(404, 20404, f"The requested resource {req.path} was not found")
        return FakeResponse(200, dict(resource))

    def _update_call(self, req: FakeRequest) -> FakeResponse:
        denied = self.authorized(req)
        if denied:
            return denied
        form = req.form_first()
        call_sid = req.params["sid"]
        with self.lock:
            resource = self.calls.get(call_sid)
            if resource is None or resource["status"] in FINAL_CALL_STATUSES:
                return self._twilio_error(404, 20404, f"The requested resource {req.path} was not found")
            status = form.get("Status")
            if status == "canceled" and resource["status"] not in ("queued", "ringing"):
                return self._twilio_error(400, 21220, "Call is not in a cancelable state")
            if status and status not in ("completed", "canceled"):
                return self._twilio_error(400, 21218, f"Invalid Status {status}")
            if form.get("Twiml"):
                resource["twiml"] = form["Twiml"]
                resource["running_twiml"] = form["Twiml"]  # replaces the running TwiML (and its <Connect>)
            if form.get("Url"):
                resource["url"] = form["Url"]
                resource["running_twiml"] = ""
            if status:
                # The REST answer already shows the final status; the callback follows.
                resource["status"] = "canceled" if status == "canceled" else "completed"
            snapshot = dict(resource)
        if status:
            final = "canceled" if status == "canceled" else "completed"
            threading.Thread(target=self.fire_status, args=(call_sid, final), daemon=True).start()
        return FakeResponse(200, snapshot)

    def call_form(self, call_sid: str) -> dict[str, list[str]]:
        """Form fields of a call's create request; repeated fields (StatusCallbackEvent) as lists."""
        out: dict[str, list[str]] = {}
        for key, value in self.call_forms.get(call_sid, []):
            out.setdefault(key, []).append(value)
        return out

    def call_updates(self, call_sid: str) -> list[dict[str, str]]:
        with self.lock:
            return [r.form_first() for r in self.requests if r.method == "POST" and r.path.endswith(
                f"/Calls/{call_sid}.json")]

    def status_form(self, call_sid: str, call_status: str, sequence: int | None = None,
                    **extra: str) -> list[tuple[str, str]]:
        """The form Twilio posts to StatusCallback for ``call_status`` (SequenceNumber from 0)."""
        with self.lock:
            resource = self.calls[call_sid]
            if sequence is None:
                sequence = self._sequence.get(call_sid, 0)
                self._sequence[call_sid] = sequence + 1
        form = [("AccountSid", self.account_sid), ("ApiVersion", "2010-04-01"), ("CallSid", call_sid),
                ("CallStatus", call_status), ("Called", resource["to"]), ("Caller", resource["from"]),
                ("Direction", resource["direction"]), ("From", resource["from"]), ("To", resource["to"]),
                ("CallbackSource", "call-progress-events"), ("SequenceNumber", str(sequence)),
                ("Timestamp", formatdate(usegmt=False).replace("-0000", "+0000"))]
        return form + [(k, v) for k, v in extra.items()]

    def send_signed(self, url: str, form: list[tuple[str, str]], signature: str | None = None) -> tuple[int, str]:
        """POST a form to one of our callbacks, signed unless a (forged) signature is given."""
        from twilio.request_validator import RequestValidator

        if signature is None:
            grouped: dict[str, list[str]] = {}
            for key, value in form:
                grouped.setdefault(key, []).append(value)
            signature = RequestValidator(self.auth_token).compute_signature(url, _Multi(grouped))
        return self.callback_sender(url, form, {"X-Twilio-Signature": signature})

    def fire_status(self, call_sid: str, call_status: str, sequence: int | None = None, **extra: str) -> int | None:
        """Send one status callback if the call subscribed to its event; returns our app's HTTP status."""
        event = {"initiated": "initiated", "ringing": "ringing", "in-progress": "answered"}.get(call_status,
                                                                                                 "completed")
        fields = self.call_form(call_sid)
        url = (fields.get("StatusCallback") or [None])[0]
        with self.lock:
            resource = self.calls[call_sid]
            resource["status"] = call_status
        if call_status in FINAL_CALL_STATUSES:
            extra.setdefault("CallDuration", extra.get("CallDuration", "0"))
        if not url or event not in (fields.get("StatusCallbackEvent") or ["completed"]):
            return None
        status, _ = self.send_signed(url, self.status_form(call_sid, call_status, sequence, **extra))
        self.callback_results.append((event, url, status))
        return status

    def answer(self, call_sid: str) -> None:
        """The callee picked up: ``in-progress`` callback, then the ``on_answer`` hook with the TwiML."""
        self.fire_status(call_sid, "in-progress")
        if self.on_answer is not None:
            with self.lock:
                resource = dict(self.calls[call_sid])
            twiml = (self.call_form(call_sid).get("Twiml") or [""])[0]
            self.on_answer(resource, twiml)

    def progress(self, call_sid: str, outcome: str = "answered", duration: int = 5) -> None:
        """Drive a realistic progression: answered (left live), completed, no-answer, busy, failed."""
        self.fire_status(call_sid, "initiated")
        if outcome in ("busy", "failed"):
            self.fire_status(call_sid, outcome, SipResponseCode="486" if outcome == "busy" else "404")
            return
        self.fire_status(call_sid, "ringing")
        if outcome == "no-answer":
            self.fire_status(call_sid, "no-answer", SipResponseCode="487")
            return
        if self.ring_seconds:
            time.sleep(self.ring_seconds)  # a timer thread of this call (auto_progress) or the caller's
        self.answer(call_sid)
        if outcome == "completed":
            self.fire_status(call_sid, "completed", CallDuration=str(duration), SipResponseCode="200")

    def fire_amd(self, call_sid: str, answered_by: str, detection_ms: int = 2400) -> int | None:
        """Send the async AMD verdict to AsyncAmdStatusCallback."""
        url = (self.call_form(call_sid).get("AsyncAmdStatusCallback") or [None])[0]
        if not url:
            return None
        form = [("AccountSid", self.account_sid), ("CallSid", call_sid), ("AnsweredBy", answered_by),
                ("MachineDetectionDuration", str(detection_ms))]
        return self.send_signed(url, form)[0]

    def current_twiml(self, call_sid: str) -> str:
        """The TwiML the call runs now: the last one an action URL answered, else the create form's."""
        with self.lock:
            resource = self.calls.get(call_sid) or {}
            running = resource.get("running_twiml")
        return running or (self.call_form(call_sid).get("Twiml") or [""])[0]

    def stream_ended(self, call_sid: str) -> tuple[int, str] | None:
        """The ``<Connect><Stream>`` of a live call ended (the media server closed the socket or died):
        as Twilio does, request the ``<Connect action>`` URL (signed form POST with the call's parameters)
        and run what it answers. Returns (status, TwiML), or None when the call is over or the TwiML has
        no action (Twilio then hangs up: the ``completed`` callback fires). ``<Hangup/>`` completes the call;
        a new ``<Connect><Stream>`` becomes the call's running TwiML (``current_twiml``)."""
        import re

        with self.lock:
            resource = dict(self.calls.get(call_sid) or {})
        if not resource or resource.get("status") in FINAL_CALL_STATUSES:
            return None
        running = self.current_twiml(call_sid)
        if "<Connect" not in running:
            return None  # the call was redirected (a transfer's <Dial> runs now)
        match = re.search(r'<Connect[^>]*\baction="([^"]+)"', running)
        if match is None:
            self.fire_status(call_sid, "completed")
            return None
        url = match.group(1).replace("&amp;", "&")
        form = [("AccountSid", self.account_sid), ("ApiVersion", "2010-04-01"), ("CallSid", call_sid),
                ("CallStatus", "in-progress"), ("Called", resource.get("to", "")), ("Caller", resource.get("from", "")),
                ("Direction", resource.get("direction", "outbound-api")), ("From", resource.get("from", "")),
                ("To", resource.get("to", ""))]
        status, twiml = self.send_signed(url, form)
        with self.lock:
            self.calls[call_sid]["running_twiml"] = twiml
            self.stream_actions.append((call_sid, status, twiml))
        if status != 200 or "<Stream" not in twiml:
            # <Hangup/>, an error answer (Twilio plays its application-error message) or no more verbs
            self.fire_status(call_sid, "completed")
        return status, twiml

    def incoming_call(self, voice_url: str, to: str, from_: str, call_sid: str | None = None) -> tuple[int, str]:
        """Twilio's incoming-call webhook for a number: returns (status, TwiML) from our app."""
        call_sid = call_sid or sid("CA")
        with self.lock:
            self.calls.setdefault(call_sid, {"sid": call_sid, "to": to, "from": from_, "status": "ringing",
                                             "direction": "inbound", "account_sid": self.account_sid})
        form = [("AccountSid", self.account_sid), ("ApiVersion", "2010-04-01"), ("CallSid", call_sid),
                ("CallStatus", "ringing"), ("Called", to), ("Caller", from_), ("Direction", "inbound"),
                ("From", from_), ("To", to)]
        status, twiml = self.send_signed(voice_url, form)
        with self.lock:
            self.calls[call_sid]["running_twiml"] = twiml
        return status, twiml
