"""Ed25519 signatures over small JSON documents: checkpoints and key rotations.

A signed document is a JSON object; its signature is Ed25519 over the document without
its signature fields (``signature``, ``new_key_signature``), written as compact JSON with
sorted keys (``json.dumps(doc, sort_keys=True, separators=(",", ":"),
ensure_ascii=False)``, UTF-8), and stored base64 in ``signature``. scripts/
verify_changelog.py checks them the same way with nothing but the public key.

- **checkpoint** (``release-portal-checkpoint/1``): ``seq``, ``public_hash`` and ``hash``
  of the chain head, ``at``, ``reason`` (export, evidence_pack, schedule, rotation,
  manual) and ``key_id``;
- **key rotation** (``release-portal-key-rotation/1``): ``old_key_id``, ``new_key_id``,
  ``new_public_key`` (PEM), and the head just after the rotation's own change-log event
  (``seq``, ``public_hash``); ``signature`` by the old key, ``new_key_signature`` by the
  new one, so trust follows a rotation in either direction.

A key's id is the first 16 hex digits of SHA-256 over its raw 32-byte public key.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

CHECKPOINT_FORMAT = "release-portal-checkpoint/1"
ROTATION_FORMAT = "release-portal-key-rotation/1"
SIGNATURE_FIELDS = ("signature", "new_key_signature")


class SigningKeyError(Exception):
    """The signing key is missing, unreadable, or not the one the portal signs with."""


def load_private_key(pem: str, name: str = "AUDIT_SIGNING_KEY") -> Ed25519PrivateKey:
    if not pem.strip():
        raise SigningKeyError(
            f"{name} is not set: give it an Ed25519 private key in PEM (PKCS#8), e.g. the "
            "output of `openssl genpkey -algorithm ed25519`"
        )
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as e:
        raise SigningKeyError(f"{name} is not a readable PEM private key ({e})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{name} must be an Ed25519 key, not {type(key).__name__}")
    return key


@lru_cache(maxsize=4)
def _cached_private_key(pem: str, name: str) -> Ed25519PrivateKey:
    return load_private_key(pem, name)


def configured_key() -> Ed25519PrivateKey:
    """AUDIT_SIGNING_KEY from the settings (read once per value)."""
    return _cached_private_key(settings.AUDIT_SIGNING_KEY, "AUDIT_SIGNING_KEY")


def served_public_pem() -> str:
    """The public key outsiders are told to trust (the key page, ``audit_public_key``):
    the public half of AUDIT_SIGNING_KEY, never the registry row, which anyone with
    database access could replace with a key of their own."""
    return public_pem(configured_key())


def previous_key() -> Ed25519PrivateKey | None:
    """AUDIT_SIGNING_KEY_PREVIOUS, the retiring key during a rotation, if set."""
    pem = getattr(settings, "AUDIT_SIGNING_KEY_PREVIOUS", "")
    return _cached_private_key(pem, "AUDIT_SIGNING_KEY_PREVIOUS") if pem.strip() else None


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def key_id(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_public_pem(pem: str) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError("not an Ed25519 public key")
    return key


def signed_bytes(doc: dict[str, Any]) -> bytes:
    body = {k: v for k, v in doc.items() if k not in SIGNATURE_FIELDS}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(doc: dict[str, Any], key: Ed25519PrivateKey, field: str = "signature") -> dict[str, Any]:
    """``doc`` with ``field`` set to the base64 Ed25519 signature of its signed bytes."""
    signature = base64.b64encode(key.sign(signed_bytes(doc))).decode()
    return {**doc, field: signature}


def verify(doc: dict[str, Any], key: Ed25519PublicKey, field: str = "signature") -> bool:
    try:
        key.verify(base64.b64decode(doc.get(field) or "", validate=True), signed_bytes(doc))
    except (InvalidSignature, ValueError):
        return False
    return True
