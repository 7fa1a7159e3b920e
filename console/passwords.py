"""Password hashing for console sign-in: scrypt from the standard library.

Stored as `scrypt$n$r$p$salt$hash` (base64), so the cost can rise later without
breaking stored hashes. Verification is constant-time. Hashing costs ~50 ms of CPU:
async callers run it in a thread. Imports nothing of ours.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

N, R, P = 2**14, 8, 1
SALT_BYTES, KEY_BYTES = 16, 32
MIN_LENGTH = 10
# Verified against when the account does not exist, so timing does not tell.
_DUMMY = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    key = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, dklen=KEY_BYTES)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str | None) -> bool:
    """True when `password` matches `stored`; False for no hash or a malformed one."""
    try:
        scheme, n, r, p, salt, key = (stored or _DUMMY).split("$")
        expected = base64.b64decode(key)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except ValueError:
        return False
    return scheme == "scrypt" and stored is not None and hmac.compare_digest(actual, expected)


def generate_password() -> str:
    """A random password for demo accounts: 16 url-safe characters."""
    return secrets.token_urlsafe(12)
