"""argon2id password hashing (OWASP parameters or stronger) and the password policy.

Hashing runs in a worker thread: at 19 MiB and two passes it costs tens of milliseconds of CPU, which
would otherwise stall every other request on the event loop.
"""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from identity.errors import WeakPassword

MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; an upper bound keeps a request from costing more


class Passwords:
    """Hashes and verifies passwords; `verify_unknown` spends the same time for accounts that do not exist."""

    def __init__(self, memory_kib: int, time_cost: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, hash_len=32, salt_len=16, type=Type.ID
        )
        # A hash of a random password nobody knows, verified against when the email is unknown (timing equality).
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(32))

    @property
    def parameters(self) -> dict[str, int]:
        p = self._hasher
        return {"memory_kib": p.memory_cost, "time_cost": p.time_cost, "parallelism": p.parallelism}

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when `password` matches; a missing hash (OAuth-only account) costs the same and fails."""
        if stored_hash is None:
            await self.verify_unknown(password)
            return False
        return await asyncio.to_thread(self._verify, stored_hash, password)

    async def verify_unknown(self, password: str) -> None:
        await asyncio.to_thread(self._verify, self._dummy_hash, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)

    def _verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def check_password_policy(password: str, email: str, min_length: int) -> None:
    """Length >= min_length, not the email (nor its local part): raises WeakPassword naming the rule."""
    if len(password) < min_length:
        raise WeakPassword(f"The password must be at least {min_length} characters long")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"The password must be at most {MAX_PASSWORD_LENGTH} characters long")
    lowered = password.strip().lower()
    local_part = email.partition("@")[0]
    if lowered in {email.lower(), local_part.lower()}:
        raise WeakPassword("The password cannot be the email address")
    if len(set(password)) < 4:
        raise WeakPassword("The password needs more than three different characters")
