"""Encryption at rest for connector secrets (bot tokens, app secrets, auth tokens).

`SecretBox` is Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) over a JSON
object of secret values. Its key comes from the `secret_key` setting
(`LEADFLOW_SECRET_KEY`); when that is unset, a key is generated once into
`<data_dir>/secret.key` (mode 0600) and reused, and the log says so, because losing
that file makes the stored secrets unreadable. Imports nothing of ours but settings
types.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr

log = logging.getLogger(__name__)

KEY_FILE = "secret.key"
GENERATE_HINT = (
    'generate one with: python -c "from cryptography.fernet import Fernet; '
    'print(Fernet.generate_key().decode())"'
)


class SecretsUnreadable(ValueError):
    """Stored secrets cannot be decrypted with this key (another key, or tampered)."""


class SecretBox:
    """Encrypts and decrypts a connector's `{name: value}` secrets."""

    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except ValueError as exc:
            raise ValueError(
                f"the secret key is not a Fernet key (32 url-safe base64 bytes); {GENERATE_HINT}"
            ) from exc

    def encrypt(self, secrets: dict[str, str]) -> str:
        return self._fernet.encrypt(json.dumps(secrets, sort_keys=True).encode()).decode()

    def decrypt(self, token: str | None) -> dict[str, str]:
        if not token:
            return {}
        try:
            clear = self._fernet.decrypt(token.encode())
        except InvalidToken as exc:
            raise SecretsUnreadable(
                "the stored secrets cannot be decrypted with this secret key"
            ) from exc
        value = json.loads(clear)
        if not isinstance(value, dict):
            raise SecretsUnreadable("the stored secrets are not an object")
        return {str(k): str(v) for k, v in value.items()}


def load_secret_box(secret_key: SecretStr | None, data_dir: Path) -> SecretBox:
    """The box for the configured key, or for `<data_dir>/secret.key` (made on first use)."""
    if secret_key is not None:
        return SecretBox(secret_key.get_secret_value().strip().encode())
    return SecretBox(_key_file(data_dir))


def _key_file(data_dir: Path) -> bytes:
    path = data_dir / KEY_FILE
    if path.is_file():
        return path.read_bytes().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as file:
        file.write(key + b"\n")
    log.warning(
        "generated a new secret key in %s to encrypt connector secrets; keep it (or set "
        "LEADFLOW_SECRET_KEY): without it the stored secrets cannot be read",
        path,
    )
    return key


def derived_key(secret_key: SecretStr | None, data_dir: Path, purpose: str) -> bytes:
    """A key for `purpose` (e.g. signing form render tokens) derived from the secret key,
    so one configured secret serves every process of a deployment."""
    base = (
        secret_key.get_secret_value().strip().encode()
        if secret_key is not None
        else _key_file(data_dir)
    )
    return hmac.new(base, purpose.encode(), hashlib.sha256).digest()
