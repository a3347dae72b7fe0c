from django.db import models

GENESIS_HASH = "0" * 64


class AuditEvent(models.Model):
    """One entry of the tamper-evident change log.

    Append-only: a trigger (migration 0002) refuses UPDATE and DELETE. ``canonical`` is
    the event as the hashes cover it, and a CHECK constraint (migration 0004) refuses any
    row whose columns disagree with it. Two chains run through the events (chain.py):

    - ``digest`` is SHA-256 of the canonical form, and ``public_hash`` chains the digests
      with plain SHA-256: anyone can recompute it from an export, and the portal signs its
      head with Ed25519 (checkpoints), so an outsider needs only a public key;
    - ``hash`` is HMAC-SHA256 keyed by AUDIT_HMAC_KEY, which lives outside the database:
      someone with database access alone cannot rebuild a valid chain.

    ``form`` is 1 for events written before the public chain existed (HMAC over the
    canonical form), 2 since (HMAC over the public hash). Actor, project and release are
    copied values, not foreign keys, so deleting a user or a release never cascades into
    the log; ``release_repr`` copies the release's name when the event is written, so the
    log reads the same after the release is renamed or gone.
    """

    seq = models.BigIntegerField(unique=True)
    at = models.DateTimeField()
    actor_kind = models.CharField(max_length=10)  # user, token, system
    actor_id = models.BigIntegerField(null=True)
    actor_name = models.CharField(max_length=200)
    action = models.CharField(max_length=80)
    object_type = models.CharField(max_length=60, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=300, blank=True)
    project_id = models.BigIntegerField(null=True)
    release_id = models.BigIntegerField(null=True)
    release_repr = models.CharField(max_length=300, blank=True, default="")
    data = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    form = models.PositiveSmallIntegerField(default=2)
    canonical = models.TextField(default="")  # what the hashes cover (chain.py)
    digest = models.CharField(max_length=64, default="")
    public_hash = models.CharField(max_length=64, default="")

    class Meta:
        ordering = ["seq"]
        indexes = [
            # The change-log page filters by project (and release/actor/action) and pages
            # by keyset on seq, newest first.
            models.Index(fields=["project_id", "-seq"], name="audit_by_project"),
            # A release's timeline on its page and in its evidence pack.
            models.Index(fields=["release_id", "seq"], name="audit_by_release"),
            models.Index(fields=["at"], name="audit_by_time"),
            # One item's (or webhook's, job's...) history: the page's object filter.
            models.Index(fields=["object_type", "object_id", "seq"], name="audit_by_object"),
            # The check finds where the events written before the public chain end.
            models.Index(fields=["seq"], condition=models.Q(form=1), name="audit_form1"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} by {self.actor_name}"


class AuditChainHead(models.Model):
    """The single locked row that serialises writers: the newest seq and both hashes."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)
    public_hash = models.CharField(max_length=64, default=GENESIS_HASH)

    def __str__(self) -> str:
        return f"head #{self.seq} {self.hash[:12]}"


class AuditSigningKey(models.Model):
    """A public key that signed (or signs) checkpoints, and when it was valid.

    Only public keys are stored: the private key is AUDIT_SIGNING_KEY in the environment.
    A key is valid for checkpoints from ``valid_from_seq`` up to ``valid_until_seq``
    (open while it is the current key). A rotation is a change-log event, and
    ``rotation`` holds the statement naming the new key, signed by the old key and
    countersigned by the new one.
    """

    key_id = models.CharField(max_length=16, unique=True)
    public_key = models.TextField()  # PEM, SubjectPublicKeyInfo
    valid_from_seq = models.BigIntegerField()
    valid_from = models.DateTimeField()
    valid_until_seq = models.BigIntegerField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    rotation = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["valid_from_seq", "pk"]
        constraints = [
            # One current key: signing looks it up, rotation retires it.
            models.UniqueConstraint(
                fields=["valid_until_seq"],
                condition=models.Q(valid_until_seq__isnull=True),
                name="audit_one_current_signing_key",
            )
        ]

    def __str__(self) -> str:
        return f"key {self.key_id}"


class AuditCheckpoint(models.Model):
    """A signed statement of the chain head: the portal's copy (receivers keep theirs).

    ``document`` is exactly what was signed and sent (see signing.py), signature included.
    """

    class Reason(models.TextChoices):
        EXPORT = "export", "Export"
        EVIDENCE_PACK = "evidence_pack", "Evidence pack"
        SCHEDULE = "schedule", "Schedule"
        ROTATION = "rotation", "Key rotation"
        MANUAL = "manual", "On request"

    seq = models.BigIntegerField()
    public_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    at = models.DateTimeField()
    reason = models.CharField(max_length=16, choices=Reason.choices)
    key_id = models.CharField(max_length=16)
    document = models.JSONField()

    class Meta:
        ordering = ["-pk"]
        indexes = [
            # The audit page shows the newest checkpoint; the schedule compares with it.
            models.Index(fields=["-at"], name="audit_checkpoint_newest"),
        ]

    def __str__(self) -> str:
        return f"checkpoint #{self.seq} ({self.reason})"

    def public_key_pem(self) -> str:
        """The public key this checkpoint was signed with (PEM)."""
        return AuditSigningKey.objects.get(key_id=self.key_id).public_key


class AuditVerification(models.Model):
    """One run of the whole-chain check started from the audit page, with its progress.

    A Celery task claims it (queued -> running, one conditional UPDATE), reports progress
    every few thousand events, and stores the result. A beat sweep re-sends runs whose
    message was lost and ends runs whose worker stopped answering.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Waiting for a worker"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Could not finish"

    ACTIVE_STATES = (State.QUEUED, State.RUNNING)

    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    requested_by_id = models.BigIntegerField(null=True)
    requested_by_name = models.CharField(max_length=200)
    expect_head = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    total = models.BigIntegerField(default=0)  # the head's seq when the run started
    checked = models.BigIntegerField(default=0)
    ok = models.BooleanField(null=True)
    result = models.JSONField(default=dict, blank=True)  # VerifyResult.as_dict()
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-pk"]
        constraints = [
            # Two auditors clicking at once share one run: it reads every event.
            models.UniqueConstraint(
                models.Value(True),
                condition=models.Q(state__in=["queued", "running"]),
                name="audit_one_active_verification",
            )
        ]

    def __str__(self) -> str:
        return f"chain check #{self.pk} ({self.state})"

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE_STATES

    @property
    def percent(self) -> int:
        return min(100, int(self.checked * 100 / self.total)) if self.total else 100
