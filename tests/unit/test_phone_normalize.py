"""Phone webhooks: Twilio signatures (checked against Twilio's own validator), status
mapping from recorded callbacks, and the generic signed JSON `CallEvent`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from twilio.request_validator import RequestValidator

from connectors.outcome import Ignored, SignatureError
from connectors.phone import (
    CallEvent,
    ReplayGuard,
    normalize_call_event,
    normalize_twilio_call,
    sign_generic,
    twilio_signature_algorithm,
    verify_generic_signature,
    verify_twilio_signature,
)
from ingest.contract import Channel, Inquiry

FIXTURES = Path(__file__).parent.parent / "fixtures" / "phone"
TOKEN = "12345678901234567890123456789012"
URL = "https://leadflow.example.com/hooks/phone/twilio?connector=main"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return data


# --- Twilio signature --------------------------------------------------------------------

PARAMS = load("twilio_no_answer")
TAMPERED = {**PARAMS, "CallStatus": "completed"}
EXTRA = {**PARAMS, "Injected": "1"}


def twilio_sign(url: str, params: dict[str, str], algorithm: str | None = None) -> str:
    signature: str = RequestValidator(TOKEN).compute_signature(url, params, algorithm)
    return signature


@pytest.mark.parametrize(
    ("url", "params", "signature", "token", "algorithm", "valid"),
    [
        pytest.param(URL, PARAMS, twilio_sign(URL, PARAMS), TOKEN, None, True, id="genuine"),
        pytest.param(
            URL, TAMPERED, twilio_sign(URL, PARAMS), TOKEN, None, False, id="tampered-param"
        ),
        pytest.param(URL, EXTRA, twilio_sign(URL, PARAMS), TOKEN, None, False, id="added-param"),
        pytest.param(
            "https://leadflow.example.com/hooks/phone/twilio?connector=other",
            PARAMS,
            twilio_sign(URL, PARAMS),
            TOKEN,
            None,
            False,
            id="wrong-url",
        ),
        pytest.param(
            "https://leadflow.example.com/hooks/phone/twilio?connector=main",
            PARAMS,
            twilio_sign(
                "https://leadflow.example.com:443/hooks/phone/twilio?connector=main", PARAMS
            ),
            TOKEN,
            None,
            True,
            id="signed-with-default-port",
        ),
        pytest.param(
            "https://leadflow.example.com:443/hooks/phone/twilio?connector=main",
            PARAMS,
            twilio_sign(URL, PARAMS),
            TOKEN,
            None,
            True,
            id="received-with-default-port",
        ),
        pytest.param(
            "http://leadflow.example.com:8080/hooks/phone/twilio",
            PARAMS,
            twilio_sign("http://leadflow.example.com/hooks/phone/twilio", PARAMS),
            TOKEN,
            None,
            True,
            id="custom-port-stripped",
        ),
        pytest.param(
            URL, PARAMS, twilio_sign(URL, PARAMS), "0" * 32, None, False, id="wrong-token"
        ),
        pytest.param(URL, {}, twilio_sign(URL, {}), TOKEN, None, True, id="no-params"),
        pytest.param(
            URL,
            PARAMS,
            twilio_sign(URL, PARAMS, "HMAC_SHA256"),
            TOKEN,
            "HMAC_SHA256",
            True,
            id="shared-key-sha256",
        ),
        pytest.param(
            URL,
            PARAMS,
            twilio_sign(URL, PARAMS, "HMAC_SHA256"),
            TOKEN,
            None,
            False,
            id="sha256-signature-checked-as-sha1",
        ),
    ],
)
def test_twilio_signature_agrees_with_twilio(
    url: str,
    params: dict[str, str],
    signature: str,
    token: str,
    algorithm: str | None,
    valid: bool,
) -> None:
    twilio_says = RequestValidator(token).validate(url, params, signature, algorithm)
    assert twilio_says is valid

    if valid:
        verify_twilio_signature(url, params, signature, token, algorithm=algorithm or "HMAC_SHA1")
    else:
        with pytest.raises(SignatureError, match="does not match"):
            verify_twilio_signature(
                url, params, signature, token, algorithm=algorithm or "HMAC_SHA1"
            )


@pytest.mark.parametrize(
    ("signature", "algorithm", "message"),
    [
        pytest.param(None, "HMAC_SHA1", "no X-Twilio-Signature", id="missing"),
        pytest.param("", "HMAC_SHA1", "no X-Twilio-Signature", id="empty"),
        pytest.param("abc=", "HMAC_MD5", "not supported", id="unknown-algorithm"),
    ],
)
def test_twilio_signature_refused_before_hashing(
    signature: str | None, algorithm: str, message: str
) -> None:
    with pytest.raises(SignatureError, match=message):
        verify_twilio_signature(URL, PARAMS, signature, TOKEN, algorithm=algorithm)


@pytest.mark.parametrize(
    ("header", "algorithm"),
    [
        pytest.param(None, "HMAC_SHA1", id="absent"),
        pytest.param("key=webhooks_sharedkey_1,algorithm=HMAC_SHA256", "HMAC_SHA256", id="sha256"),
        pytest.param("key=webhooks_sharedkey_1", "HMAC_SHA1", id="no-algorithm"),
    ],
)
def test_twilio_signature_algorithm(header: str | None, algorithm: str) -> None:
    assert twilio_signature_algorithm(header) == algorithm


# --- Twilio call status ------------------------------------------------------------------


def twilio(name: str, **overrides: str) -> Inquiry | Ignored:
    params = {**load(name), **overrides}
    return normalize_twilio_call(params, connector="twilio-main", team="b2c", default_region="RU")


@pytest.mark.parametrize(
    ("fixture", "status", "phone"),
    [
        pytest.param("twilio_no_answer", "missed", "+79161234567", id="no-answer"),
        pytest.param("twilio_busy", "busy", "+4915123456789", id="busy"),
        pytest.param("twilio_completed_recording", "answered", "+79161234567", id="completed"),
        pytest.param("twilio_no_answer_voicemail", "voicemail", "+79161234567", id="voicemail"),
        pytest.param("twilio_anonymous_missed", "missed", None, id="withheld-number"),
        pytest.param("twilio_outbound_completed", "answered", "+79161234567", id="outbound"),
    ],
)
def test_twilio_final_statuses(fixture: str, status: str, phone: str | None) -> None:
    params = load(fixture)
    result = twilio(fixture)

    assert isinstance(result, Inquiry)
    assert result.channel is Channel.PHONE
    assert result.fields["call_status"] == status
    assert result.sender.phone == phone
    assert result.idempotency_key == f"phone:twilio:{params['CallSid']}:{status}"
    assert result.channel_ids["call_id"] == params["CallSid"]
    assert result.channel_ids["provider"] == "twilio"
    assert result.routing.connector == "twilio-main"


def test_completed_call_carries_duration_recording_and_time() -> None:
    result = twilio("twilio_completed_recording")

    assert isinstance(result, Inquiry)
    assert result.channel_ids["duration_s"] == "187"
    assert result.channel_ids["recording_url"].endswith(
        "/Recordings/RE5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a"
    )
    assert result.channel_ids["direction"] == "inbound"
    assert result.received_at == datetime(2024, 6, 20, 10, 30, 7, tzinfo=UTC)
    assert result.subject == "Answered call from +79161234567"


def test_missed_call_omits_empty_ids() -> None:
    result = twilio("twilio_no_answer")

    assert isinstance(result, Inquiry)
    assert set(result.channel_ids) == {"provider", "call_id", "status", "direction"}
    assert result.subject == "Missed call from +79161234567"


@pytest.mark.parametrize(
    ("overrides", "outcome"),
    [
        pytest.param({"CallStatus": "ringing"}, Ignored("interim"), id="ringing"),
        pytest.param({"CallStatus": "queued"}, Ignored("interim"), id="queued"),
        pytest.param({"CallStatus": "in-progress"}, Ignored("interim"), id="in-progress"),
        pytest.param({"CallStatus": "failed"}, Ignored("failed"), id="failed"),
        pytest.param({"CallStatus": "teleported"}, Ignored("unknown_status"), id="unknown"),
    ],
)
def test_twilio_non_final_statuses_are_ignored(overrides: dict[str, str], outcome: Ignored) -> None:
    assert twilio("twilio_ringing", **overrides) == outcome


def test_completed_call_of_zero_seconds_is_missed() -> None:
    result = twilio("twilio_completed_recording", CallDuration="0", RecordingUrl="")

    assert isinstance(result, Inquiry)
    assert result.fields["call_status"] == "missed"


def test_missing_timestamp_needs_received_at() -> None:
    params = {k: v for k, v in load("twilio_no_answer").items() if k != "Timestamp"}
    at = datetime(2024, 6, 20, 8, 15, 42, tzinfo=UTC)

    with pytest.raises(ValueError, match="received_at"):
        normalize_twilio_call(params, connector="c", team=None, default_region="RU")
    result = normalize_twilio_call(
        params, connector="c", team=None, default_region="RU", received_at=at
    )
    assert isinstance(result, Inquiry)
    assert result.received_at == at


# --- Generic signed JSON -----------------------------------------------------------------

SECRET = "whsec_0123456789abcdef"
NOW = datetime(2024, 6, 20, 8, 15, 42, tzinfo=UTC)
TS = int(NOW.timestamp())
RAW = (FIXTURES / "generic_missed.json").read_bytes()


@pytest.mark.parametrize(
    ("timestamp", "signature", "now"),
    [
        pytest.param(str(TS), sign_generic(RAW, TS, SECRET), NOW, id="fresh"),
        pytest.param(str(TS), "sha256=" + sign_generic(RAW, TS, SECRET), NOW, id="prefixed"),
        pytest.param(
            str(TS), sign_generic(RAW, TS, SECRET), NOW + timedelta(minutes=5), id="edge-of-window"
        ),
        pytest.param(
            str(TS), sign_generic(RAW, TS, SECRET), NOW - timedelta(minutes=4), id="slight-future"
        ),
    ],
)
def test_generic_signature_accepted(timestamp: str, signature: str, now: datetime) -> None:
    verify_generic_signature(RAW, timestamp, signature, SECRET, now)


@pytest.mark.parametrize(
    ("body", "timestamp", "signature", "now", "message"),
    [
        pytest.param(RAW, None, sign_generic(RAW, TS, SECRET), NOW, "needs both", id="no-ts"),
        pytest.param(RAW, str(TS), None, NOW, "needs both", id="no-signature"),
        pytest.param(RAW, "yesterday", "ab", NOW, "unix seconds", id="ts-not-a-number"),
        pytest.param(
            RAW + b"\n", str(TS), sign_generic(RAW, TS, SECRET), NOW, "does not match", id="body"
        ),
        pytest.param(
            RAW, str(TS + 1), sign_generic(RAW, TS, SECRET), NOW, "does not match", id="ts-changed"
        ),
        pytest.param(
            RAW, str(TS), sign_generic(RAW, TS, "other"), NOW, "does not match", id="wrong-secret"
        ),
        pytest.param(
            RAW,
            str(TS),
            sign_generic(RAW, TS, SECRET),
            NOW + timedelta(minutes=5, seconds=1),
            "too old",
            id="stale",
        ),
        pytest.param(
            RAW,
            str(TS),
            sign_generic(RAW, TS, SECRET),
            NOW - timedelta(minutes=6),
            "in the future",
            id="future",
        ),
    ],
)
def test_generic_signature_refused(
    body: bytes, timestamp: str | None, signature: str | None, now: datetime, message: str
) -> None:
    with pytest.raises(SignatureError, match=message):
        verify_generic_signature(body, timestamp, signature, SECRET, now)


def test_replay_guard_refuses_a_second_delivery_until_it_expires() -> None:
    guard = ReplayGuard(ttl=timedelta(minutes=10))
    signature = sign_generic(RAW, TS, SECRET)

    guard.check_and_remember(signature, NOW)
    with pytest.raises(SignatureError, match="replay"):
        guard.check_and_remember("sha256=" + signature.upper(), NOW + timedelta(minutes=9))
    guard.check_and_remember(signature, NOW + timedelta(minutes=10))


def test_replay_guard_is_bounded_and_forgets_expired_entries() -> None:
    guard = ReplayGuard(ttl=timedelta(minutes=10), max_entries=2)

    for n in range(3):
        guard.check_and_remember(f"sig{n}", NOW)
    assert len(guard) == 2
    guard.check_and_remember("sig0", NOW)  # evicted as the oldest, so accepted again
    guard.check_and_remember("late", NOW + timedelta(minutes=11))
    assert len(guard) == 1


def test_generic_event_becomes_a_call_inquiry() -> None:
    event = CallEvent.model_validate_json(RAW)

    result = normalize_call_event(
        event, provider="asterisk", connector="pbx-office", team="b2b", default_region="RU"
    )

    assert result.channel is Channel.PHONE
    assert result.sender.phone == "+79161234567"
    assert result.idempotency_key == "phone:asterisk:pbx-2024-06-20-000731:missed"
    assert result.fields["call_status"] == "missed"
    assert result.received_at == datetime(2024, 6, 20, 8, 15, 42, tzinfo=UTC)
    assert result.channel_ids == {
        "provider": "asterisk",
        "call_id": "pbx-2024-06-20-000731",
        "status": "missed",
        "direction": "inbound",
    }
    assert result.routing.team == "b2b"


def test_outbound_generic_event_identifies_the_callee() -> None:
    event = CallEvent.model_validate(
        {**json.loads(RAW), "direction": "outbound", "status": "answered", "duration_s": 64}
    )

    result = normalize_call_event(
        event, provider="asterisk", connector="pbx", team=None, default_region="RU"
    )

    assert result.sender.phone == "+74951234567"
    assert result.channel_ids["duration_s"] == "64"


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"extra": "x"}, id="unknown-field"),
        pytest.param({"status": "ringing"}, id="not-a-final-status"),
        pytest.param({"direction": "sideways"}, id="bad-direction"),
        pytest.param({"occurred_at": "2024-06-20T08:15:42"}, id="naive-time"),
        pytest.param({"duration_s": -1}, id="negative-duration"),
        pytest.param({"recording_url": "ftp://pbx/rec.wav"}, id="non-http-recording"),
    ],
)
def test_call_event_rejects_bad_input(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CallEvent.model_validate({**json.loads(RAW), **change})


@pytest.mark.parametrize(
    ("caller", "phone"),
    [
        pytest.param("sip:79161234567@10.0.0.1:5060", "+79161234567", id="sip-uri-without-plus"),
        pytest.param("79161234567 (Иван)", "+79161234567", id="pbx-caller-name"),
        pytest.param("client:alice", None, id="sip-client-has-no-number"),
        pytest.param("anonymous", None, id="withheld"),
    ],
)
def test_caller_numbers_are_found_in_what_the_pbx_sends(caller: str, phone: str | None) -> None:
    result = twilio("twilio_no_answer", From=caller)
    assert isinstance(result, Inquiry)
    assert result.sender.phone == phone
    assert result.fields["from"] == caller
