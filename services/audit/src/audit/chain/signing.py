"""Ed25519 signatures over chain heads: checkpoints (the head after a batch) and retention anchors."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


@dataclass(frozen=True)
class SignedHead:
    """A signed statement: tenant `tenant_id`'s chain reached `seq` with record hash `hash`."""

    tenant_id: str
    seq: int
    hash: bytes
    signed_at: datetime
    key_id: str
    signature: bytes


def _message(kind: str, tenant_id: str, seq: int, head: bytes, signed_at: datetime) -> bytes:
    return f"portal-audit/{kind}\n{tenant_id}\n{seq}\n{head.hex()}\n{signed_at.isoformat()}".encode()


class HeadSigner:
    """Signs and verifies heads with one Ed25519 key (base64url seed from AUDIT_CHECKPOINT_SIGNING_KEY)."""

    def __init__(self, seed_b64: str) -> None:
        try:
            seed = base64.urlsafe_b64decode(seed_b64 + "=" * (-len(seed_b64) % 4))
            self._private = Ed25519PrivateKey.from_private_bytes(seed)
        except ValueError as exc:
            raise ValueError("the checkpoint signing key must be base64url of a 32-byte Ed25519 seed") from exc
        self._public: Ed25519PublicKey = self._private.public_key()
        raw = self._public.public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = hashlib.sha256(raw).hexdigest()[:16]

    def sign(self, kind: str, tenant_id: str, seq: int, head: bytes, signed_at: datetime) -> SignedHead:
        signature = self._private.sign(_message(kind, tenant_id, seq, head, signed_at))
        return SignedHead(tenant_id, seq, head, signed_at, self.key_id, signature)

    def is_valid(self, kind: str, signed: SignedHead) -> bool:
        if signed.key_id != self.key_id:
            return False
        message = _message(kind, signed.tenant_id, signed.seq, signed.hash, signed.signed_at)
        try:
            self._public.verify(signed.signature, message)
        except InvalidSignature:
            return False
        return True
