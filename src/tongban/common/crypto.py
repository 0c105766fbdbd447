"""Personal data at rest: AES-256-GCM field encryption with a key ring, and blind indexes for lookup.

Values are sealed as ``<key id>.<base64(nonce | ciphertext | tag)>``: the key id says which key of the
ring opens it, so keys rotate by putting a new key first in ``FIELD_KEYS`` (new values use it) and
keeping the old ones for as long as rows sealed with them remain. A blind index is an HMAC of
the normalised value under a separate key: equal values give equal indexes, so a lookup by ID number
or mobile number is an indexed equality match, and the table alone reveals nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings


class SealError(ValueError):
    """A sealed value could not be opened: unknown key id or tampered data."""


@lru_cache(maxsize=1)
def _ring() -> tuple[tuple[str, AESGCM], ...]:
    ring = []
    for raw in settings.FIELD_KEYS:
        key = base64.urlsafe_b64decode(raw)
        key_id = hashlib.sha256(key).hexdigest()[:8]
        ring.append((key_id, AESGCM(key)))
    return tuple(ring)


def seal(value: str, *, context: str) -> str:
    """Encrypt ``value``; ``context`` (for example ``account.mobile``) is bound as associated data so a
    sealed value copied into another column does not open there."""
    key_id, aead = _ring()[0]
    nonce = os.urandom(12)
    blob = aead.encrypt(nonce, value.encode(), context.encode())
    return f"{key_id}.{base64.urlsafe_b64encode(nonce + blob).decode()}"


def unseal(sealed: str, *, context: str) -> str:
    key_id, _, payload = sealed.partition(".")
    for candidate_id, aead in _ring():
        if candidate_id == key_id:
            raw = base64.urlsafe_b64decode(payload)
            try:
                return aead.decrypt(raw[:12], raw[12:], context.encode()).decode()
            except Exception as exc:  # cryptography raises InvalidTag
                raise SealError("sealed value failed authentication") from exc
    raise SealError(f"no key {key_id!r} in FIELD_KEYS")


def blind_index(value: str, *, kind: str) -> str:
    """A stable, keyed digest for equality lookup. ``kind`` separates domains (mobile vs ID number)."""
    digest = hmac.new(settings.BLIND_INDEX_KEY.encode(), f"{kind}:{value}".encode(), hashlib.sha256)
    return digest.hexdigest()[:40]


def forget_keys() -> None:
    """For tests that change FIELD_KEYS."""
    _ring.cache_clear()
