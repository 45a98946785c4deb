"""Encryption at rest for TOTP secrets: Fernet (AES-128-CBC + HMAC-SHA256) with a rotatable key list."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretBox:
    """The first key encrypts; every listed key decrypts. `needs_rotation` tells when to re-encrypt."""

    def __init__(self, keys: str) -> None:
        parsed = [k.strip() for k in keys.split(",") if k.strip()]
        if not parsed:
            raise ValueError("TOTP_ENCRYPTION_KEYS needs at least one Fernet key")
        try:
            self._primary = Fernet(parsed[0])
            self._all = MultiFernet([Fernet(k) for k in parsed])
        except (ValueError, TypeError) as exc:
            raise ValueError("TOTP_ENCRYPTION_KEYS: each key must be 32 url-safe base64-encoded bytes") from exc

    def encrypt(self, plaintext: str) -> str:
        return self._primary.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._all.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("a stored secret cannot be decrypted with any configured key") from exc

    def needs_rotation(self, ciphertext: str) -> bool:
        try:
            self._primary.decrypt(ciphertext.encode())
        except InvalidToken:
            return True
        return False

    def rotate(self, ciphertext: str) -> str:
        return self._all.rotate(ciphertext.encode()).decode()
