from django.db import models

GENESIS_HASH = "0" * 64


class AuditEvent(models.Model):
    """One entry of the tamper-evident change log.

    Append-only: a trigger (migration 0002) refuses UPDATE and DELETE. Each event's
    ``hash`` is HMAC-SHA256 over its canonical JSON form and the previous event's hash,
    keyed by AUDIT_HMAC_KEY, which lives outside the database. Actor, project and release
    are copied values, not foreign keys, so deleting a user or a release never cascades
    into the log.
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
    data = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["seq"]
        indexes = [
            # The change-log page filters by project (and release/actor/action) and pages
            # by keyset on seq, newest first.
            models.Index(fields=["project_id", "-seq"], name="audit_by_project"),
            # A release's timeline on its page and in its evidence pack.
            models.Index(fields=["release_id", "seq"], name="audit_by_release"),
            models.Index(fields=["at"], name="audit_by_time"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} by {self.actor_name}"


class AuditChainHead(models.Model):
    """The single locked row that serialises writers: the newest seq and hash."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)

    def __str__(self) -> str:
        return f"head #{self.seq} {self.hash[:12]}"
