"""Encryption at rest for stored secrets (channel tokens, passwords, signing secrets, Apprise URLs, the request
headers of sources and http_request jobs).

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) with the keys in VIGIA_ENCRYPTION_KEYS: the first
encrypts, every one decrypts, so a key is rotated by putting a new one first and running
`python manage.py rotate_secrets`. Unset, a key is derived from SECRET_KEY (HKDF-SHA256) so a fresh checkout
works; the `vigia.W001` deploy check asks production to set its own. That derived key also stays last among
the decryption keys, so secrets stored before VIGIA_ENCRYPTION_KEYS was set still open (and rotate away).

Error messages here never hold a key, a ciphertext or a plaintext.
"""

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from scheduler.errors import TransientError

GENERATE = 'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'


class SecretsUnreadable(TransientError):
    """Stored secrets that none of the keys opens (a key missing from VIGIA_ENCRYPTION_KEYS, or a changed
    SECRET_KEY). Transient for a delivery: it goes through once the operator restores the key."""


def derived_key(secret_key: str) -> bytes:
    """The Fernet key used when VIGIA_ENCRYPTION_KEYS is unset: HKDF-SHA256 of SECRET_KEY."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"vigia secrets at rest").derive(
        secret_key.encode()
    )
    return base64.urlsafe_b64encode(raw)


@functools.lru_cache(maxsize=8)
def _keyring(keys: tuple[str | bytes, ...], secret_key: str) -> MultiFernet:
    fernets = []
    for number, key in enumerate(keys, 1):
        try:
            fernets.append(Fernet(key))
        except (ValueError, TypeError):  # binascii.Error is a ValueError; the key itself is never echoed
            raise ImproperlyConfigured(
                f"VIGIA_ENCRYPTION_KEYS: key number {number} of {len(keys)} is not a Fernet key "
                f"(32 url-safe base64-encoded bytes). Generate one with: {GENERATE}"
            ) from None
    fernets.append(Fernet(derived_key(secret_key)))
    return MultiFernet(fernets)


def keyring() -> MultiFernet:
    """A MultiFernet over the configured keys (then the SECRET_KEY-derived one). ImproperlyConfigured when a
    configured key is malformed."""
    return _keyring(tuple(settings.VIGIA_ENCRYPTION_KEYS), settings.SECRET_KEY)


def using_derived_key() -> bool:
    return not settings.VIGIA_ENCRYPTION_KEYS


def encrypt(text: str) -> str:
    return keyring().encrypt(text.encode()).decode("ascii")


def decrypt(token: str, what: str = "stored secrets") -> str:
    """The plaintext of `token`; SecretsUnreadable naming `what` when no key opens it."""
    try:
        return keyring().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeError):
        raise SecretsUnreadable(_unreadable(what)) from None


def rotate(token: str, what: str = "stored secrets") -> str:
    """`token` encrypted again with the first key (the same plaintext, a new ciphertext)."""
    try:
        return keyring().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError):
        raise SecretsUnreadable(_unreadable(what)) from None


def _unreadable(what: str) -> str:
    return (
        f"Cannot decrypt the {what}: none of the keys in VIGIA_ENCRYPTION_KEYS (nor the one derived from "
        "SECRET_KEY) opens them. Add the key they were encrypted with, or enter the secrets again."
    )
