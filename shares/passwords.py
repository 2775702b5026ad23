"""Password hashing with scrypt from the standard library.

Why scrypt via `hashlib`: it is memory-hard (OWASP's second choice after
Argon2id, with N=2**17, r=8, p=1), ships with Python's OpenSSL, and so adds no
dependency; argon2-cffi would be the one library to reach for otherwise. The
parameters are stored in the hash, so they can be raised later and old hashes
still verify (`needs_rehash` tells the login path to upgrade them).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from .errors import InvalidInput

__all__ = ["PasswordHasher", "MIN_PASSWORD_LENGTH", "check_password_strength"]

#: NIST SP 800-63B §5.1.1.2 asks for at least 8; we ask for 10 and no upper rule beyond a sane cap.
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024


def check_password_strength(password: str, *, email: str = "") -> None:
    """Raise `InvalidInput` for a password too short, too long or equal to the email."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput("The password is too long.")
    if email and password.strip().lower() == email.strip().lower():
        raise InvalidInput("The password must not be your email address.")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class PasswordHasher:
    """scrypt(N=2**n_log2, r, p) with a 16-byte salt; format `scrypt$n_log2$r$p$salt$hash`."""

    n_log2: int = 17
    r: int = 8
    p: int = 1

    def _derive(self, password: str, salt: bytes, n_log2: int, r: int, p: int) -> bytes:
        n = 1 << n_log2
        return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                              maxmem=max(32 * 1024 * 1024, 2 * 128 * r * n), dklen=32)

    def hash(self, password: str) -> str:
        salt = secrets.token_bytes(16)
        key = self._derive(password, salt, self.n_log2, self.r, self.p)
        return f"scrypt${self.n_log2}${self.r}${self.p}${_b64(salt)}${_b64(key)}"

    def verify(self, password: str, stored: str) -> bool:
        """True when `password` matches; False for a mismatch or an unreadable stored hash."""
        try:
            scheme, n_log2, r, p, salt, key = stored.split("$")
            if scheme != "scrypt":
                return False
            n_i, r_i, p_i = int(n_log2), int(r), int(p)
            if not (1 <= n_i <= 22 and 1 <= r_i <= 32 and 1 <= p_i <= 16):
                return False
            derived = self._derive(password, _unb64(salt), n_i, r_i, p_i)
        except (ValueError, TypeError):
            return False
        return hmac.compare_digest(derived, _unb64(key))

    def needs_rehash(self, stored: str) -> bool:
        return not stored.startswith(f"scrypt${self.n_log2}${self.r}${self.p}$")

    def dummy_verify(self, password: str) -> None:
        """Spend the same time as a real check, so a login for an unknown email is not faster (SEC-6)."""
        self._derive(password, b"\0" * 16, self.n_log2, self.r, self.p)
