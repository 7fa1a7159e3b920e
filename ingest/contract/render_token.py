"""The signed render token a form page embeds, so spam scoring can see how fast a
form was filled in. Shared by the web-form connector (which makes it) and the spam
score (which reads it), hence part of the contract. HMAC-SHA256, no clock inside.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime


def make_render_token(secret: bytes, form: str, rendered_at: datetime) -> str:
    """A token the form page embeds: which form, when rendered, HMAC-SHA256 signed."""
    payload = f"{_b64(form.encode())}.{int(rendered_at.timestamp() * 1000)}"
    return f"{payload}.{_b64(_sign(secret, payload))}"


def read_render_token(secret: bytes, token: str, form: str) -> datetime | None:
    """When the form was rendered, or None for a forged, malformed or other-form token."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(_b64(_sign(secret, payload)), parts[2]):
        return None
    if parts[0] != _b64(form.encode()) or not parts[1].isdigit():
        return None
    return datetime.fromtimestamp(int(parts[1]) / 1000, tz=UTC)


def _sign(secret: bytes, payload: str) -> bytes:
    return hmac.new(secret, payload.encode(), hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
