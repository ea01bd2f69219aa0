"""Token material at rest: client tokens hashed, upstream tokens encrypted (AES-256-GCM)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from builder.errors import ConfigError

__all__ = ["Cipher", "generate_key", "load_or_create_dev_key", "new_token", "token_hash"]

_VERSION = "v1"


def generate_key() -> str:
    """A new ``MCPBUILD_SECRET_KEY``: 32 random bytes, URL-safe base64."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def new_token(nbytes: int = 32) -> str:
    """An opaque, unguessable token."""
    return secrets.token_urlsafe(nbytes)


def token_hash(token: str) -> str:
    """What the store keeps of a client token: tokens are random, so plain SHA-256 suffices."""
    return hashlib.sha256(token.encode()).hexdigest()


class Cipher:
    """Encrypts upstream tokens; the associated data binds a ciphertext to its grant."""

    def __init__(self, key: str) -> None:
        try:
            raw = base64.urlsafe_b64decode(key.strip() + "=" * (-len(key.strip()) % 4))
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise ConfigError(
                "MCPBUILD_SECRET_KEY: expected 32 bytes in URL-safe base64 "
                f"(`mcpbuild keygen` prints one), got {len(raw)} bytes"
            )
        self._aead = AESGCM(raw)

    def encrypt(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return f"{_VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, ciphertext: str, *, context: str) -> str:
        version, _, payload = ciphertext.partition(".")
        if version != _VERSION:
            raise ConfigError("stored token was encrypted in an unknown format")
        raw = base64.urlsafe_b64decode(payload)
        try:
            return self._aead.decrypt(raw[:12], raw[12:], context.encode()).decode()
        except InvalidTag:
            raise ConfigError(
                "stored upstream token cannot be decrypted: MCPBUILD_SECRET_KEY is not the key "
                "it was stored with"
            ) from None


def load_or_create_dev_key(path: Path) -> tuple[str, bool]:
    """The development key in ``path`` (mode 0600), created on first use; and whether it was."""
    if path.exists():
        return path.read_text().strip(), False
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key, True
