"""HMAC-SHA256 signatures over ``<timestamp>.<raw body>`` (see the package docstring)."""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Release-Portal-Signature"
TIMESTAMP_HEADER = "X-Release-Portal-Timestamp"
EVENT_HEADER = "X-Release-Portal-Event"
DELIVERY_HEADER = "X-Release-Portal-Delivery"
TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, b"<timestamp>." + body)."""
    signed = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signed_headers(
    secret: str, body: bytes, *, event: str, delivery: str, now: float | None = None
) -> dict[str, str]:
    timestamp = int(now if now is not None else time.time())
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
        EVENT_HEADER: event,
        DELIVERY_HEADER: delivery,
    }


def verify(
    secret: str,
    *,
    body: bytes,
    timestamp: str | None,
    header: str | None,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does: a fresh timestamp and a matching signature, compared safely."""
    if not timestamp or not header or not timestamp.isdigit():
        return False
    current = now if now is not None else time.time()
    if abs(current - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), header)
