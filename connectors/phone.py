"""The phone channel's pure core: provider call webhooks in, call `Inquiry`s out.

Two inputs: Twilio voice status callbacks (form fields, `X-Twilio-Signature`) and a
generic signed JSON `CallEvent` for any other provider or PBX. Both become a
Channel.PHONE inquiry whose `fields["call_status"]` (answered, missed, busy,
voicemail) lets the consumer decide: a missed call is a lead to call back, an answered
one is a done call activity. Signature checks, the status mapping and the replay
guard are pure: no I/O, and the clock is always an argument. Imports only
`ingest.contract` of ours, and never the `twilio` package (tests only use it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Annotated, Literal
from urllib.parse import urlparse

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from ingest.contract import (
    Channel,
    Inquiry,
    InvalidIdentity,
    Routing,
    Sender,
    first_phone,
    normalize_phone,
)

from .outcome import Ignored, SignatureError

CallStatus = Literal["answered", "missed", "busy", "voicemail"]
Direction = Literal["inbound", "outbound"]

TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"
TWILIO_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
_TWILIO_HASHES = {"HMAC_SHA1": hashlib.sha1, "HMAC_SHA256": hashlib.sha256}
_TWILIO_INTERIM = frozenset({"queued", "initiated", "ringing", "in-progress"})
_TWILIO_MISSED = frozenset({"no-answer", "canceled"})

GENERIC_TIMESTAMP_HEADER = "X-LeadFlow-Timestamp"
GENERIC_SIGNATURE_HEADER = "X-LeadFlow-Signature"
DEFAULT_WINDOW = timedelta(minutes=5)

_SUBJECTS: dict[CallStatus, str] = {
    "answered": "Answered call",
    "missed": "Missed call",
    "busy": "Missed call (line busy)",
    "voicemail": "Voicemail",
}


# --- Twilio ---------------------------------------------------------------------------


def twilio_signature_algorithm(settings_header: str | None) -> str:
    """The algorithm named in `X-Twilio-Webhooks-Signature-Settings` (`key=..,algorithm=..`).

    No header means the classic Auth Token signature, HMAC_SHA1; with the header the
    caller must verify with that Webhook Setting's shared key instead of the token.
    """
    for part in (settings_header or "").split(","):
        name, separator, value = part.partition("=")
        if separator and name.strip() == "algorithm" and value.strip():
            return value.strip()
    return "HMAC_SHA1"


def verify_twilio_signature(
    url: str,
    params: Mapping[str, str],
    signature: str | None,
    auth_token: str,
    *,
    algorithm: str = "HMAC_SHA1",
) -> None:
    """Check `X-Twilio-Signature` the way Twilio computes it.

    The signed string is the full URL Twilio requested (with its query string) followed
    by every POST parameter's name and value, sorted by name; the signature is the
    base64 HMAC of it keyed by the Auth Token. Twilio is inconsistent about writing the
    default port, so, as its own libraries do, the URL is tried with and without it.
    """
    if not signature:
        raise SignatureError(f"The request has no {TWILIO_SIGNATURE_HEADER} header.")
    digest = _TWILIO_HASHES.get(algorithm.upper())
    if digest is None:
        raise SignatureError(f"The Twilio signature algorithm {algorithm!r} is not supported.")
    signed_params = "".join(name + params[name] for name in sorted(params))
    for candidate in _twilio_url_variants(url):
        mac = hmac.new(auth_token.encode(), (candidate + signed_params).encode(), digest)
        if hmac.compare_digest(base64.b64encode(mac.digest()), signature.strip().encode()):
            return
    raise SignatureError(
        f"The {TWILIO_SIGNATURE_HEADER} does not match this URL, these parameters and the "
        "auth token."
    )


def _twilio_url_variants(url: str) -> tuple[str, str]:
    parsed = urlparse(url)
    try:
        port = parsed.port
    except ValueError as exc:
        raise SignatureError(f"The webhook URL {url!r} has an invalid port.") from exc
    if port:
        return url, parsed._replace(netloc=parsed.netloc.split(":")[0]).geturl()
    default = 443 if parsed.scheme == "https" else 80
    return url, parsed._replace(netloc=f"{parsed.netloc}:{default}").geturl()


def normalize_twilio_call(
    params: Mapping[str, str],
    *,
    connector: str,
    team: str | None,
    default_region: str,
    received_at: datetime | None = None,
) -> Inquiry | Ignored:
    """Turn one Twilio voice status callback into a call inquiry.

    Interim statuses (queued, ringing, in-progress) are `Ignored("interim")`: the final
    callback follows. `received_at` is used only when Twilio sent no `Timestamp`
    (it does when status callback events are configured).
    """
    call_sid = params.get("CallSid", "").strip()
    if not call_sid:
        raise ValueError("A Twilio call callback must carry CallSid.")
    raw_status = params.get("CallStatus", "").strip().lower()
    duration_s = _duration(params.get("CallDuration"))
    recording_url = params.get("RecordingUrl", "").strip() or None
    status = _twilio_status(raw_status, duration_s, recording_url)
    if isinstance(status, Ignored):
        return status
    call = _Call(
        provider="twilio",
        call_id=call_sid,
        status=status,
        direction=_twilio_direction(params.get("Direction", "")),
        from_number=params.get("From", ""),
        to_number=params.get("To", ""),
        duration_s=duration_s,
        recording_url=recording_url,
        occurred_at=_twilio_time(params.get("Timestamp"), received_at),
    )
    return _call_inquiry(
        call,
        connector=connector,
        team=team,
        default_region=default_region,
        extra_fields={"provider_status": raw_status},
    )


def _twilio_status(
    raw_status: str, duration_s: int, recording_url: str | None
) -> CallStatus | Ignored:
    if raw_status in _TWILIO_INTERIM:
        return Ignored("interim")
    if raw_status == "busy":
        return "busy"
    if raw_status in _TWILIO_MISSED:
        return "voicemail" if recording_url else "missed"
    if raw_status == "completed":
        # A completed call of zero seconds is a caller who hung up on connect.
        return "answered" if duration_s > 0 else "missed"
    if raw_status == "failed":
        return Ignored("failed")
    return Ignored("unknown_status")


def _twilio_direction(raw: str) -> Direction:
    # outbound-api, outbound-dial, and a SIP trunk's calls out to the network.
    if raw.startswith("outbound") or raw == "trunking-originating":
        return "outbound"
    return "inbound"


def _twilio_time(raw: str | None, fallback: datetime | None) -> datetime:
    if raw:
        try:
            parsed = parsedate_to_datetime(raw)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"Twilio's Timestamp {raw!r} is not an RFC 2822 date.") from exc
        # RFC 2822 "-0000" (and no zone at all) parse naive; Twilio means UTC.
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if fallback is None:
        raise ValueError("The callback has no Timestamp; pass received_at.")
    return fallback


def _duration(raw: str | None) -> int:
    if not raw or not raw.strip():
        return 0
    if not raw.strip().isdigit():
        raise ValueError(f"The call duration {raw!r} is not a whole number of seconds.")
    return int(raw)


# --- Generic signed JSON webhook -------------------------------------------------------

PhoneText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class CallEvent(BaseModel):
    """One finished call, as any provider or PBX posts it to the generic webhook."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    call_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    direction: Direction
    status: CallStatus
    from_number: PhoneText
    to_number: PhoneText
    duration_s: int = Field(default=0, ge=0)
    recording_url: (
        Annotated[str, StringConstraints(max_length=500, pattern=r"^https?://")] | None
    ) = None
    occurred_at: AwareDatetime


def sign_generic(raw_body: bytes, timestamp: int, secret: str) -> str:
    """The signature a sender puts in `X-LeadFlow-Signature` (see `verify_generic_signature`)."""
    signed = f"{timestamp}.".encode() + raw_body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify_generic_signature(
    raw_body: bytes,
    timestamp_header: str | None,
    signature_header: str | None,
    secret: str,
    now: datetime,
    window: timedelta = DEFAULT_WINDOW,
) -> None:
    """Check the generic webhook's signature, Stripe-style.

    The sender puts the current unix time in seconds (decimal digits) in
    `X-LeadFlow-Timestamp`, and in `X-LeadFlow-Signature` the lowercase hex
    HMAC-SHA256, keyed by the shared secret (UTF-8), of the bytes
    `<timestamp> "." <raw body>`; a `sha256=` prefix is accepted. Binding the time
    into the MAC lets a request be refused when it is older or further in the future
    than `window`; pair with `ReplayGuard` to refuse a replay inside the window.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware.")
    if not timestamp_header or not signature_header:
        raise SignatureError(
            f"The request needs both {GENERIC_TIMESTAMP_HEADER} and "
            f"{GENERIC_SIGNATURE_HEADER} headers."
        )
    if not timestamp_header.strip().isdigit():
        raise SignatureError(f"{GENERIC_TIMESTAMP_HEADER} must be unix seconds.")
    timestamp = int(timestamp_header)
    received = signature_header.strip().removeprefix("sha256=").lower()
    expected = sign_generic(raw_body, timestamp, secret)
    if not hmac.compare_digest(received.encode(), expected.encode()):
        raise SignatureError(
            f"The {GENERIC_SIGNATURE_HEADER} does not match the timestamp, body and secret."
        )
    skew = now.timestamp() - timestamp
    if skew > window.total_seconds():
        raise SignatureError("The request's timestamp is too old; it may be a replay.")
    if -skew > window.total_seconds():
        raise SignatureError("The request's timestamp is in the future; check the clock.")


class ReplayGuard:
    """Refuses a signature seen before, for as long as its timestamp could be accepted.

    In-memory and bounded: at most `max_entries` signatures, oldest evicted first, each
    forgotten after `ttl`, which must cover the whole acceptance window on both sides
    (2 x window). Remember only signatures that verified, or anyone could flood it.
    One per process; not thread-safe (the asyncio loop is one thread).
    """

    def __init__(self, *, ttl: timedelta = 2 * DEFAULT_WINDOW, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1.")
        self._ttl = ttl
        self._max = max_entries
        self._expiry: OrderedDict[str, datetime] = OrderedDict()

    def __len__(self) -> int:
        return len(self._expiry)

    def check_and_remember(self, signature: str, now: datetime) -> None:
        """Raise `SignatureError` if `signature` was seen within ttl; else remember it."""
        self._forget_expired(now)
        key = signature.strip().removeprefix("sha256=").lower()
        if key in self._expiry:
            raise SignatureError("This signed request was already received; replay refused.")
        self._expiry[key] = now + self._ttl
        while len(self._expiry) > self._max:
            self._expiry.popitem(last=False)

    def forget(self, signature: str) -> None:
        """Accept `signature` again: its request was refused after all (e.g. broker down)."""
        self._expiry.pop(signature.strip().removeprefix("sha256=").lower(), None)

    def _forget_expired(self, now: datetime) -> None:
        # Insertion order is expiry order, because the ttl is the same for all.
        while self._expiry:
            oldest, expires_at = next(iter(self._expiry.items()))
            if expires_at > now:
                return
            del self._expiry[oldest]


def normalize_call_event(
    event: CallEvent, *, provider: str, connector: str, team: str | None, default_region: str
) -> Inquiry:
    """Turn a verified generic `CallEvent` into a call inquiry."""
    call = _Call(
        provider=provider,
        call_id=event.call_id,
        status=event.status,
        direction=event.direction,
        from_number=event.from_number,
        to_number=event.to_number,
        duration_s=event.duration_s,
        recording_url=event.recording_url,
        occurred_at=event.occurred_at,
    )
    return _call_inquiry(call, connector=connector, team=team, default_region=default_region)


# --- Shared ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Call:
    provider: str
    call_id: str
    status: CallStatus
    direction: Direction
    from_number: str
    to_number: str
    duration_s: int
    recording_url: str | None
    occurred_at: datetime


def _call_inquiry(
    call: _Call,
    *,
    connector: str,
    team: str | None,
    default_region: str,
    extra_fields: Mapping[str, str] | None = None,
) -> Inquiry:
    # The customer is whoever is not us: the caller inbound, the callee outbound.
    customer_raw = call.from_number if call.direction == "inbound" else call.to_number
    customer = _phone_or_none(customer_raw, default_region)
    details = {
        "direction": call.direction,
        "duration_s": str(call.duration_s) if call.duration_s else "",
        "recording_url": call.recording_url or "",
    }
    fields = {
        "call_status": call.status,
        "from": call.from_number,
        "to": call.to_number,
        **details,
        **(extra_fields or {}),
    }
    channel_ids = {"provider": call.provider, "call_id": call.call_id, "status": call.status}
    preposition = "from" if call.direction == "inbound" else "to"
    return Inquiry(
        idempotency_key=f"phone:{call.provider}:{call.call_id}:{call.status}",
        channel=Channel.PHONE,
        received_at=call.occurred_at,
        sender=Sender(phone=customer),
        subject=f"{_SUBJECTS[call.status]} {preposition} {customer or customer_raw or 'unknown'}",
        routing=Routing(team=team, connector=connector),
        channel_ids={k: v for k, v in {**channel_ids, **details}.items() if v},
        fields={k: v for k, v in fields.items() if v},
    )


def _phone_or_none(raw: str, default_region: str) -> str | None:
    # Withheld and SIP clients ("anonymous", "client:alice") have no number to call back;
    # a SIP URI or a PBX's "79031234567 (Ivan)" does, found by the shared finder.
    if not raw.strip():
        return None
    try:
        return normalize_phone(raw, default_region)
    except InvalidIdentity:
        found = first_phone(raw, default_region)
        return found.e164 if found else None
