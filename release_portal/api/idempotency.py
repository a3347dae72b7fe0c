"""``Idempotency-Key``: a retried POST gets the first answer and records nothing twice.

The key is stored per token with the method, the path and a hash of the request, and
the first successful (2xx) answer. Within 24 hours:

- the same key and the same request → the stored answer, nothing runs again;
- the same key and a different request → 422;
- two requests with one key at the same moment → the second waits for the first (the
  unique index on (token, key) holds it) and then gets its answer.

A request that was refused (4xx) changed nothing and stores nothing: retrying it with
the same key runs it again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from release_portal.api.auth import token_of
from release_portal.api.errors import ApiError
from release_portal.api.models import IdempotencyRecord

KEEP_FOR = timedelta(hours=24)
HEADER = "Idempotency-Key"
Answer = tuple[int, Any]


def _fingerprint(request: HttpRequest, body: Any) -> str:
    text = json.dumps(
        {"method": request.method, "path": request.path, "body": body},
        sort_keys=True,
        separators=(",", ":"),
        cls=DjangoJSONEncoder,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _key(request: HttpRequest) -> str:
    key = request.headers.get(HEADER, "").strip()
    if key and (len(key) > 200 or not key.isprintable()):
        raise ApiError(400, f"{HEADER} is at most 200 printable characters (a UUID is ideal).")
    return key


def run_once(request: HttpRequest, body: Any, run: Callable[[], Answer]) -> Answer:
    """Run ``run`` in one transaction, or replay the answer a retry with the same key got.

    ``body`` is what identifies the request: the parsed payload, or a hash of an upload.
    """
    key = _key(request)
    if not key:
        with transaction.atomic():
            return run()
    token = token_of(request)
    digest = _fingerprint(request, body)
    now = timezone.now()
    with transaction.atomic():
        IdempotencyRecord.objects.filter(
            token=token, key=key, created_at__lt=now - KEEP_FOR
        ).delete()
        # Waits here while another request holding this key is still running.
        IdempotencyRecord.objects.bulk_create(
            [
                IdempotencyRecord(
                    token=token, key=key, method=request.method or "", path=request.path[:500],
                    request_sha256=digest, created_at=now,
                )
            ],
            ignore_conflicts=True,
        )  # fmt: skip
        record = IdempotencyRecord.objects.select_for_update().get(token=token, key=key)
        if record.status_code:
            if (record.request_sha256, record.method, record.path) != (
                digest,
                request.method,
                request.path[:500],
            ):
                raise ApiError(
                    422,
                    f"This {HEADER} was used for a different request within the last 24 "
                    "hours: use a new key for a new request.",
                    {"first_used_at": record.created_at.isoformat()},
                )
            request.idempotent_replay = True  # type: ignore[attr-defined]
            return record.status_code, record.body
        status, answer = run()
        if 200 <= status < 300:
            record.status_code = status
            record.body = json.loads(json.dumps(answer, cls=DjangoJSONEncoder))
            record.save(update_fields=["status_code", "body"])
        else:
            record.delete()
        return status, answer


def purge_expired() -> int:
    """Forget answers older than 24 hours (each request also purges its own key)."""
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - KEEP_FOR).delete()
    return deleted
