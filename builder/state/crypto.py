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

__all__ = [
    "Cipher",
    "generate_key",
    "load_or_create_dev_key",
    "new_token",
    "open_answer",
    "seal_answer",
    "token_hash",
]

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


def _answer_key(secret: str) -> AESGCM:
    # Domain-separated from token_hash(), which the store keeps: the store alone cannot
    # derive this key, only the holder of the code or refresh token it answers.
    return AESGCM(hashlib.sha256(b"mcpbuild answer\0" + secret.encode()).digest())


def seal_answer(secret: str, answer: str) -> str:
    """``answer`` (a token response) encrypted under a key derived from ``secret`` (the code
    or refresh token it answered), so it can be given again to whoever presents ``secret``
    again, and to nobody who only reads the store."""
    nonce = os.urandom(12)
    sealed = _answer_key(secret).encrypt(nonce, answer.encode(), b"answer")
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def open_answer(secret: str, sealed: str) -> str | None:
    """The answer :func:`seal_answer` sealed for ``secret``; None when it is not its key."""
    try:
        raw = base64.urlsafe_b64decode(sealed)
        return _answer_key(secret).decrypt(raw[:12], raw[12:], b"answer").decode()
    except (InvalidTag, binascii.Error, ValueError):
        return None


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
