"""Runbook versions and their steps; releases, checklist items, evidence and sign-offs."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import RegexValidator
from django.db import models

from release_portal.accounts.roles import Role

commit_sha_validator = RegexValidator(
    r"^[0-9a-f]{40}$", "A commit SHA is 40 hexadecimal characters (the full `git rev-parse HEAD`)."
)


class StepOwner(models.TextChoices):
    """Who ticks a step: a project role, or the person named as the release's owner."""

    PLATFORM_LEAD = Role.PLATFORM_LEAD.value, Role.PLATFORM_LEAD.label
    RELEASE_ENGINEER = Role.RELEASE_ENGINEER.value, Role.RELEASE_ENGINEER.label
    QA_LEAD = Role.QA_LEAD.value, Role.QA_LEAD.label
    SRE = Role.SRE.value, Role.SRE.label
    RELEASE_OWNER = "release_owner", "Release owner"


class RunbookVersion(models.Model):
    """One imported copy of the runbook. A release pins one and never changes it."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"

    project = models.ForeignKey(
        "migrations_ops.Project", on_delete=models.CASCADE, related_name="runbook_versions"
    )
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    source = models.TextField(help_text="The markdown as imported.")
    source_sha256 = models.CharField(max_length=64)
    sections = models.JSONField(default=list)  # [{"title": ..., "slug": ...}] in order
    # The runbook's §7 change-log table, one dict per row (date, by, notes), plus a row
    # appended on publishing.
    history = models.JSONField(default=list)
    lint_findings = models.JSONField(default=list)
    lint_cli_version = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    imported_at = models.DateTimeField(auto_now_add=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    publish_notes = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="runbook_version_number")
        ]
        ordering = ["project", "-number"]

    def __str__(self) -> str:
        return f"{self.title} v{self.number}"


class RunbookStep(models.Model):
    """A `- [ ]` line of the runbook: what to do, who ticks it, what counts as evidence."""

    version = models.ForeignKey(RunbookVersion, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    section = models.CharField(max_length=200)
    # Stable across versions (derived from the text); CI reports results by this key.
    key = models.SlugField(max_length=80)
    text = models.TextField()
    owner = models.CharField(max_length=20, choices=StepOwner.choices)
    # What counts as evidence: "job:<kind>" (a job of that kind), "ci:<name>" (a CI report,
    # e.g. ci:staging_apply, ci:rls_docker, ci:secrets, ci:pull_request), "link", "file",
    # "runbook_lint", "backup", "snapshot_ref", "rollback_plan".
    evidence_kinds = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    requires_evidence = models.BooleanField(default=False)
    is_signoff = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "position"], name="step_position"),
            models.UniqueConstraint(fields=["version", "key"], name="step_key"),
        ]
        ordering = ["version", "position"]

    def __str__(self) -> str:
        return self.text[:80]


class Release(models.Model):
    """One shipment of migrations: a commit, its files, the pinned runbook's checklist."""

    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        PREFLIGHT = "preflight", "Pre-flight"
        READY = "ready", "Ready for sign-off"
        APPROVED = "approved", "Approved"
        DEPLOYING = "deploying", "Deploying"
        MONITORING = "monitoring", "Monitoring"
        DEPLOYED = "deployed", "Deployed"
        FAILED = "failed", "Failed"
        ROLLED_BACK = "rolled_back", "Rolled back"
        CANCELLED = "cancelled", "Cancelled"

    class MigrationsSource(models.TextChoices):
        NONE = "", "Not yet"
        UPLOAD = "upload", "Uploaded archive"
        GIT = "git", "Git checkout"
        API = "api", "Uploaded by CI"

    project = models.ForeignKey(
        "migrations_ops.Project", on_delete=models.PROTECT, related_name="releases"
    )
    title = models.CharField(max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_releases"
    )
    commit_sha = models.CharField(max_length=40, validators=[commit_sha_validator])
    planned_for = models.DateField(null=True, blank=True)
    runbook_version = models.ForeignKey(
        RunbookVersion, on_delete=models.PROTECT, related_name="releases"
    )
    state = models.CharField(max_length=12, choices=State.choices, default=State.DRAFT)
    # sha256 over the commit and the migration files: what jobs and CI ran against.
    content_digest = models.CharField(max_length=64, blank=True)
    # sha256 over the content digest and the state and evidence of every item except the
    # sign-off items: what a sign-off approves (see digest.py).
    digest = models.CharField(max_length=64, blank=True)
    migrations_source = models.CharField(
        max_length=10, choices=MigrationsSource.choices, default=MigrationsSource.NONE, blank=True
    )
    migrations_uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    migrations_uploaded_at = models.DateTimeField(null=True, blank=True)
    # The whole supabase/ folder as last ingested (tests, fixtures, seeds, rollbacks): the
    # bundle a job queued now pins (the history of uploads is ``uploads``).
    bundle = models.ForeignKey(
        "Bundle", null=True, blank=True, on_delete=models.PROTECT, related_name="releases"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The release list filters by project and state, newest first.
            models.Index(fields=["project", "state", "-created_at"], name="release_by_project"),
            # "Awaiting you": releases a person owns.
            models.Index(fields=["owner", "state"], name="release_by_owner"),
            # The dashboard's and the release list's newest first, any state: the first
            # page read from the index, never a sort of every release.
            models.Index(fields=["project", "-created_at", "-id"], name="release_newest"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.short_sha})"

    @property
    def short_sha(self) -> str:
        return self.commit_sha[:8]


def bundle_path(instance: Bundle, filename: str) -> str:
    return f"bundles/{instance.project_id}/{instance.digest}.tar.gz"


class Bundle(models.Model):
    """One uploaded supabase/ folder, kept as it was: never changed, addressed by the digest
    of its files' contents (``bundles.contents_digest``), stored once per project.

    Jobs pin the bundle they were queued for and unpack exactly it on every attempt;
    releases and jobs PROTECT it, so it stays readable (auditors) while anything names it.
    """

    project = models.ForeignKey(
        "migrations_ops.Project", on_delete=models.PROTECT, related_name="bundles"
    )
    digest = models.CharField(max_length=64)
    # The deterministic tar.gz of the files (``bundles.build_bundle``) and its sha256.
    archive = models.FileField(upload_to=bundle_path)
    archive_sha256 = models.CharField(max_length=64)
    # Every file: {"path", "kind", "sha256", "size"} in path order (``bundles.file_listing``).
    files = models.JSONField(default=list)
    size = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "digest"], name="bundle_once_per_project")
        ]
        ordering = ["project", "-created_at"]

    def __str__(self) -> str:
        return f"bundle {self.digest[:12]}"


class BundleUpload(models.Model):
    """An upload that made ``bundle`` the release's current one: the release's history of
    content, so any two uploads can be compared."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="uploads")
    bundle = models.ForeignKey(Bundle, on_delete=models.PROTECT, related_name="uploads")
    number = models.PositiveIntegerField()
    commit_sha = models.CharField(max_length=40)
    source = models.CharField(max_length=10, choices=Release.MigrationsSource.choices)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_by_name = models.CharField(max_length=200, blank=True)
    uploaded_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["release", "number"], name="bundle_upload_number")
        ]
        ordering = ["release", "number"]

    def __str__(self) -> str:
        return f"upload {self.number} of release {self.release_id}"


class MigrationFile(models.Model):
    """A migration file pinned by a release, with its down script when one exists."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="migration_files")
    filename = models.CharField(max_length=255)
    version = models.CharField(max_length=64)
    name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    sql = models.TextField()
    down_filename = models.CharField(max_length=255, blank=True)
    down_sha256 = models.CharField(max_length=64, blank=True)
    down_sql = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["release", "filename"], name="migration_file_once")
        ]
        ordering = ["release", "version", "filename"]

    def __str__(self) -> str:
        return self.filename


class ChecklistItem(models.Model):
    """A release's copy of one runbook step: its state, who ticked it and why."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        NOT_APPLICABLE = "not_applicable", "Not applicable"
        STALE = "stale", "Stale"

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="items")
    step = models.ForeignKey(RunbookStep, on_delete=models.PROTECT, related_name="items")
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    done_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True)
    # Bumped on every change; a form carries the revision it was rendered at, so a stale
    # form or a second click is told "already done by X at T" instead of writing again.
    revision = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["release", "step"], name="item_once_per_step")
        ]
        ordering = ["release", "step__position"]

    def __str__(self) -> str:
        return f"{self.release_id}: {self.step}"

    @property
    def is_settled(self) -> bool:
        return self.state in SETTLED_STATES


class Evidence(models.Model):
    """What supports an item: a job, a CI run, a link, a file... with whether it passed."""

    class Kind(models.TextChoices):
        JOB = "job", "Job"
        CI_RUN = "ci_run", "CI run"
        LINK = "link", "Link"
        FILE = "file", "File"
        RUNBOOK_LINT = "runbook_lint", "Runbook lint"
        BACKUP = "backup", "Backup"
        SNAPSHOT_REF = "snapshot_ref", "Supabase snapshot"
        ROLLBACK_PLAN = "rollback_plan", "Rollback plan"
        PULL_REQUEST = "pull_request", "Pull request"
        SECRETS = "secrets", "Secret names"

    class Status(models.TextChoices):
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"
        INFO = "info", "Attached"

    item = models.ForeignKey(ChecklistItem, on_delete=models.CASCADE, related_name="evidence")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.INFO)
    job = models.ForeignKey(
        "migrations_ops.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    url = models.URLField(max_length=500, blank=True)
    file = models.FileField(upload_to="evidence/%Y/%m/", blank=True)
    file_name = models.CharField(max_length=255, blank=True)
    file_sha256 = models.CharField(max_length=64, blank=True)
    summary = models.CharField(max_length=500, blank=True)
    commit_sha = models.CharField(max_length=40, blank=True)
    # The release's content digest (commit + files) this evidence was produced for:
    # evidence for older content makes its item stale.
    digest = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["item", "-created_at"]
        indexes = [models.Index(fields=["item", "-created_at"], name="evidence_by_item")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.summary or self.url or self.file_name}"


class SignOffQuerySet(models.QuerySet["SignOff"]):
    def current(self) -> SignOffQuerySet:
        """The sign-offs that still approve their release: ``SignOff.is_current`` in SQL."""
        return self.filter(stale_at__isnull=True, digest=models.F("release__digest"))


class SignOff(models.Model):
    """A person's approval of the release as it was: the digest they signed."""

    class Kind(models.TextChoices):
        # A sign-off step's owner is the kind of sign-off it asks for (runbooks.services
        # refuses any other owner): the same values and labels, declared once in StepOwner.
        RELEASE_OWNER = StepOwner.RELEASE_OWNER.value, StepOwner.RELEASE_OWNER.label
        QA_LEAD = StepOwner.QA_LEAD.value, StepOwner.QA_LEAD.label
        SRE = StepOwner.SRE.value, StepOwner.SRE.label

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="signoffs")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    digest = models.CharField(max_length=64)
    signed_at = models.DateTimeField()
    stale_at = models.DateTimeField(null=True, blank=True)
    stale_reason = models.CharField(max_length=300, blank=True)
    # What was signed (files with hashes, item states): the banner diffs against it.
    snapshot = models.JSONField(default=dict)

    objects = SignOffQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["release", "user"], name="signoff_one_per_person"),
            models.UniqueConstraint(fields=["release", "kind"], name="signoff_one_per_kind"),
        ]
        ordering = ["release", "signed_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} sign-off by {self.user} on {self.release_id}"

    @property
    def is_current(self) -> bool:
        """It approves the release as it is now: not marked stale, and given for the
        release's digest. The one rule; ``SignOff.objects.current()`` is the same in SQL."""
        return self.stale_at is None and self.digest == self.release.digest


class WaiverQuerySet(models.QuerySet["Waiver"]):
    def active(self) -> WaiverQuerySet:
        """Approved, not revoked, and for the release's content as it is now: the waivers
        that let the gate past a failed or missing check (``Waiver.is_active`` in SQL)."""
        return self.filter(
            approved_at__isnull=False,
            revoked_at__isnull=True,
            content_digest=models.F("release__content_digest"),
        )

    def pending(self) -> WaiverQuerySet:
        return self.filter(approved_at__isnull=True, revoked_at__isnull=True)


class Waiver(models.Model):
    """The one way past a failed or missing check of an evidence-required item: a reason,
    asked by one person and approved by a second, for one content digest.

    New content makes it stale (it names the content it was given for); revoking it
    reopens the item it settled, and so does a failure of a check it did not waive
    (``services.waivers.waivers_end_on_failure``). Marking an evidence-required item not
    applicable is a waiver too (``kind`` says which).
    """

    class Kind(models.TextChoices):
        CHECK = "check", "Failed or missing check"
        NOT_APPLICABLE = "not_applicable", "Not applicable"

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="waivers")
    item = models.ForeignKey(ChecklistItem, on_delete=models.CASCADE, related_name="waivers")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.CHECK)
    reason = models.TextField()
    # The content (files) it waives the check for, and the release digest the asker saw.
    content_digest = models.CharField(max_length=64)
    release_digest = models.CharField(max_length=64)
    # The check as it stood when asked: {"status": "failed"|"missing", "failures": [...]}.
    check_result = models.JSONField(default=dict)
    asked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    asked_at = models.DateTimeField(auto_now_add=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoke_reason = models.TextField(blank=True)

    objects = WaiverQuerySet.as_manager()

    class Meta:
        ordering = ["release", "-asked_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(approved_by__isnull=True)
                | ~models.Q(approved_by=models.F("asked_by")),
                name="waiver_four_eyes",
            ),
            # One open (asked, not decided) waiver per item at a time.
            models.UniqueConstraint(
                fields=["item"],
                condition=models.Q(approved_at__isnull=True, revoked_at__isnull=True),
                name="waiver_one_pending_per_item",
            ),
        ]
        indexes = [
            # The gate and the release page: a release's waivers.
            models.Index(fields=["release", "revoked_at"], name="waiver_by_release"),
        ]

    def __str__(self) -> str:
        return f"Waiver #{self.pk} of “{self.item.step.text[:60]}”"

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.content_digest != self.release.content_digest:
            return "stale"
        return "approved" if self.approved_at is not None else "pending"

    @property
    def is_active(self) -> bool:
        """It lets the gate past its item's check now: ``Waiver.objects.active()``."""
        return self.state == "approved"


class ReleaseDigestSnapshot(models.Model):
    """What a release digest covered (files, item states, evidence), kept when the digest
    first appears: a form that carries the digest its page showed is told what changed
    since, in words.

    ``snapshot`` holds the checklist part (``content_digest`` and ``items``); the files it
    covered are the ``ReleaseContentSnapshot`` of its ``content_digest``, kept once per
    content digest: a tick writes the items, never every file again."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="digest_snapshots")
    digest = models.CharField(max_length=64)
    content_digest = models.CharField(max_length=64, blank=True)
    snapshot = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["release", "digest"], name="digest_snapshot_once")
        ]

    def __str__(self) -> str:
        return f"{self.release_id}@{self.digest[:12]}"


class ReleaseContentSnapshot(models.Model):
    """The content part of the digest snapshots (commit, migration files, the bundle's
    files) of one content digest of a release: what ``digest.content_snapshot`` read when
    the content digest first appeared."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="content_snapshots")
    content_digest = models.CharField(max_length=64)
    snapshot = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # Also the index of require_seen_digest's lookup (release, content digest).
            models.UniqueConstraint(
                fields=["release", "content_digest"], name="content_snapshot_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.release_id}@{self.content_digest[:12]}"


# Items that count as settled for the gate and the owner's sign-off.
SETTLED_STATES = [ChecklistItem.State.DONE, ChecklistItem.State.NOT_APPLICABLE]


# Deployments, freeze windows, break-glass overrides and peer reviews live beside these.
from checklists.deployments.models import (  # noqa: E402, F401
    Deployment,
    FreezeWindow,
    GateOverride,
    PeerReview,
)
