"""API tokens for CI, and the answers kept for Idempotency-Key retries."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from release_portal.audit.services import Actor


class Scope(models.TextChoices):
    READ = "read", "Read releases, jobs and the gate"
    REPORT = (
        "report",
        "Report CI results, upload migrations, create releases, start checks (not on production)",
    )
    DEPLOY = (
        "deploy",
        (
            "Record deployments, ask the gate, start the jobs that hold production connections "
            "(apply, rollback, backup, restore check, rehearsal) and any job on production"
        ),
    )


# A live token this close to its expiry is flagged on the tokens page.
EXPIRES_SOON = timedelta(days=7)


class TokenState(models.TextChoices):
    LIVE = "live", "live"
    EXPIRED = "expired", "expired"
    REVOKED = "revoked", "revoked"


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def live(self, now: datetime) -> ApiTokenQuerySet:
        """Tokens that work at ``now``: not revoked, not expired (``state_at`` in SQL)."""
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """A project's credential for CI: ``rp_<key_id>_<secret>``; only the secret's hash is kept.

    The secret is 256 random bits, so a plain sha256 is enough (no slow hash needed: it
    cannot be guessed); it is compared in constant time. The key id finds the row.
    A token works until it is revoked or its ``expires_at`` passes (none: it never
    expires, as every token made before expiry existed).
    """

    project = models.ForeignKey(
        "migrations_ops.Project", on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=80)
    key_id = models.CharField(max_length=16, unique=True)
    secret_sha256 = models.CharField(max_length=64)
    scopes = ArrayField(models.CharField(max_length=10, choices=Scope.choices))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # When its platform leads were told it enters its last EXPIRES_SOON (once per token).
    expiry_notified_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Why the portal revoked it, when no lead did by hand (``api.creators``): "its creator
    # ana is no longer a platform lead here (removed from the project)". The tokens page,
    # the 401 and the change log say it; it names people, never ids.
    revoked_reason = models.CharField(max_length=300, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["project", "-created_at"]
        constraints = [
            # Names identify tokens in the change log: unique among a project's live tokens.
            models.UniqueConstraint(
                fields=["project", "name"],
                condition=models.Q(revoked_at__isnull=True),
                name="api_token_name_per_project",
            ),
        ]

    def __str__(self) -> str:
        return f"token:{self.name}"

    def state_at(self, now: datetime) -> TokenState:
        """Revoked wins over expired: revoking is what someone did to the token.
        (``ApiToken.objects.live(now)`` is its LIVE in SQL.)"""
        if self.revoked_at is not None:
            return TokenState.REVOKED
        if self.expires_at is not None and self.expires_at <= now:
            return TokenState.EXPIRED
        return TokenState.LIVE

    def expires_soon_at(self, now: datetime) -> bool:
        """Live, and expiring within EXPIRES_SOON of ``now``."""
        return (
            self.state_at(now) == TokenState.LIVE
            and self.expires_at is not None
            and self.expires_at - now <= EXPIRES_SOON
        )

    @property
    def display_prefix(self) -> str:
        return f"rp_{self.key_id}_…"

    def as_actor(self) -> Actor:
        return Actor("token", self.pk, f"token:{self.name}")

    def has_scope(self, *scopes: str) -> bool:
        return any(s in self.scopes for s in scopes)


class ExpiryMail(models.Model):
    """One platform lead's mail about one token: it enters its last days (``api.expiry``),
    or the portal revoked it because its creator is no longer a platform lead
    (``api.creators``).

    Written in the transaction that announces the token, so a mail that could not be sent
    stays here, pending, and is tried again (``expiry_mails_send``) instead of being lost;
    the tokens page shows it until it is sent. Claimed by one conditional UPDATE before
    each try, so two workers never both send it; one whose sender stopped mid-try is never
    tried again (it may have gone out) and is marked failed, saying so.
    """

    class State(models.TextChoices):
        PENDING = "pending", "pending"
        SENDING = "sending", "sending"
        SENT = "sent", "sent"
        FAILED = "failed", "failed"

    class Kind(models.TextChoices):
        EXPIRING = "expiring", "expires soon"
        REVOKED = "revoked", "revoked with its creator's role"

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="expiry_mails")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.EXPIRING)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    email = models.EmailField()
    subject = models.CharField(max_length=300)
    body = models.TextField()
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["token", "email"]
        constraints = [
            # A lead hears once that a token expires soon, and once that it was revoked.
            models.UniqueConstraint(fields=["token", "email", "kind"], name="expiry_mail_once"),
        ]
        indexes = [
            # The retry task's query: pending mails that are due.
            models.Index(fields=["state", "next_attempt_at"], name="expiry_mail_due"),
        ]

    def __str__(self) -> str:
        return f"expiry mail of {self.token_id} to {self.email} ({self.state})"


class IdempotencyRecord(models.Model):
    """The first successful answer to a POST sent with an ``Idempotency-Key`` (kept 24 h)."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_sha256 = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(default=0)  # 0 while the first one runs
    body = models.JSONField(default=dict)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["token", "key"], name="idempotency_key_once"),
        ]
        indexes = [
            # Purging answers older than 24 hours.
            models.Index(fields=["created_at"], name="idempotency_by_age"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}]"
