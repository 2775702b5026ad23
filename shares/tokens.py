"""Link and session tokens (SEC-1): 256 random bits, URL-safe, stored only as SHA-256.

A database leak then yields no usable link. Lookups go by the hash (an index hit,
so no timing signal on the secret); `tokens_equal` is for the few places that
compare two secrets directly (CSRF).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["TOKEN_BYTES", "mint_token", "hash_token", "tokens_equal"]

#: SEC-1: 256 bits from `secrets`.
TOKEN_BYTES = 32


def mint_token() -> tuple[str, str]:
    """A new token and the hash to store: `(token, sha256_hex)`. Only the hash may be persisted."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    # Any string a client sends must hash (to something that matches no row), so a
    # token with a lone surrogate is just an unknown token, not a crash (SEC-6: one
    # uniform answer for every bad link).
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def tokens_equal(a: str, b: str) -> bool:
    """Constant-time comparison of two secrets."""
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))
