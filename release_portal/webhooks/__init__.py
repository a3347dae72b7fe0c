"""Outgoing webhooks: a project's notifications posted to URLs its platform leads choose.

Events: release approved, sign-off stale, job failed, backup verified, incident opened
and closed, monitoring alert, gate break-glass, deployment or rollback failed (see
``events.EVENTS``). Each webhook subscribes to some of them, in one of two formats:
``json`` (the portal's own body) or ``slack`` (``{"text": ..., "blocks": [...]}`` for a
Slack-compatible incoming webhook).

Signing (the receiver checks every request):

- ``X-Release-Portal-Timestamp``: Unix seconds when this attempt was sent;
- ``X-Release-Portal-Signature``: ``sha256=`` + hex HMAC-SHA256, keyed with the webhook's
  secret, over ``<timestamp>.<raw body>`` (the timestamp, a full stop, the body bytes as
  received);
- ``X-Release-Portal-Event``: the event name; ``X-Release-Portal-Delivery``: the
  message's id, the same on every retry of it.

A receiver recomputes the HMAC over the raw body (before parsing it), compares it in
constant time, refuses timestamps more than five minutes from its own clock, and may
drop a delivery id it has already processed. Because the timestamp is inside the signed
string, a captured request cannot be replayed later with a fresh timestamp.
``signing.verify`` is a reference implementation.

Delivery: a Celery task per message (ids only) makes one attempt; failures (no answer,
a status outside 2xx, a redirect: redirects are never followed) are retried after 10 s,
30 s, 90 s and 270 s (five attempts, ``WEBHOOK_RETRY_DELAYS``); every attempt is logged
as a WebhookDelivery row shown on the project's webhooks page. A beat sweep re-sends
messages whose Celery message was lost.

Outgoing requests (``outgoing``): http(s) only, a short timeout, the host resolved once
and the connection made to that checked address (no second lookup for DNS rebinding);
link-local and metadata addresses (169.254.169.254) are always refused, loopback only
when ``WEBHOOK_ALLOW_LOOPBACK`` (on by default in DEBUG and embedded mode), private
networks only when ``WEBHOOK_ALLOW_PRIVATE_NETWORKS``.
"""
