"""Request and response bodies. Requests forbid unknown fields (a typo is a 422, not ignored)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from ninja import Path, Query, Schema
from pydantic import ConfigDict, Field, StringConstraints

from migrations_ops.models import Job

Sha = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{40}$")]
Url = Annotated[str, StringConstraints(pattern=r"^https?://[^\s\x00]+$", max_length=500)]
# An environment variable name: a value pasted by mistake ("X=..." or a token) never fits.
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=100)]
StepKey = Annotated[str, StringConstraints(min_length=1, max_length=80)]
# PostgreSQL text cannot hold NUL: refuse it with a 422 rather than fail at the database.
NoNul = r"^[^\x00]*$"
Title = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NoNul)]
Summary = Annotated[str, StringConstraints(max_length=500, pattern=NoNul)]
Username = Annotated[str, StringConstraints(pattern=r"^[\w.@+-]{1,150}$")]
TargetName = Annotated[str, StringConstraints(pattern=r"^[-a-zA-Z0-9_]{1,40}$")]
MAX_ID = 2**63 - 1
# Path and query parameters, bounded so no value reaches the database unchecked.
ReleaseId = Annotated[int, Path(ge=1, le=MAX_ID)]
DeploymentId = Annotated[int, Path(ge=1, le=MAX_ID)]
JobId = Annotated[int, Path(ge=1, le=MAX_ID)]
LogAfter = Annotated[int, Query(ge=0, le=2**31 - 1, description="Lines with seq above this.")]
Limit = Annotated[int, Query(ge=1, le=200)]
# A release's content digest as the API shows it (empty: not named).
ContentDigest = Annotated[str, StringConstraints(pattern=r"^([0-9a-f]{64})?$")]
MoveToSha = Annotated[Sha | None, Query(description="Move the release to this commit too.")]


class In(Schema):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(Schema):
    error: str
    detail: Any = None


# --- releases -----------------------------------------------------------------------------


class ReleaseCreateIn(In):
    title: Title
    commit_sha: Sha
    owner: Username = Field(description="Username of the release owner, a member of the project.")
    planned_for: date | None = None


class ReleaseSummaryOut(Schema):
    id: int
    project: str
    title: str
    state: str
    commit_sha: str
    owner: str
    planned_for: date | None
    digest: str
    content_digest: str
    created_at: datetime
    created: bool = Field(False, description="True when this request created the release.")


class EvidenceOut(Schema):
    id: int
    kind: str
    status: str
    url: str
    summary: str
    commit_sha: str
    current: bool = Field(description="Produced for the release's current commit and files.")
    created_by: str
    created_at: datetime


class ItemOut(Schema):
    id: int
    step: str
    section: str
    text: str
    owner: str
    state: str
    done_by: str | None
    done_at: datetime | None
    evidence: list[EvidenceOut]


class SignOffOut(Schema):
    kind: str
    user: str
    digest: str
    signed_at: datetime
    current: bool
    stale_at: datetime | None
    stale_reason: str


class FileOut(Schema):
    filename: str
    version: str
    sha256: str
    size: int
    down_filename: str


class JobSummaryOut(Schema):
    id: int
    kind: str
    state: str
    target: str | None
    created_at: datetime
    finished_at: datetime | None
    ok: bool | None
    summary: str = Field(
        description="What the job found; for a restore_check or rehearsal, which ran over a "
        "copy of production's rows, only the portal's verdict (\"Restore check passed\")."
    )
    output_withheld: str | None = Field(
        None,
        description="Set for a restore_check or rehearsal, which run over a copy of "
        "production's rows: why its log, error and details are never in an API answer (SREs "
        "and platform leads read them in the portal); null for every other kind.",
    )


class DeploymentOut(Schema):
    id: int
    release: int
    target: str
    target_kind: str
    kind: str
    status: str
    digest: str
    break_glass: int | None
    run_url: str
    log_url: str
    started_by: str
    started_at: datetime
    finished_by: str
    finished_at: datetime | None
    release_state: str
    hint: str | None = None


class PeerReviewOut(Schema):
    url: str
    approvals: int
    template_checklist_complete: bool
    complete: bool
    commit_sha: str = Field(description="The commit it was reported for (the release's then).")
    current: bool = Field(description="Reported for the release's current commit and files.")
    reported_by: str
    reported_at: datetime


class FollowUpOut(Schema):
    id: int
    by: str
    at: datetime
    reason: str
    expires_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_note: str


class ReleaseOut(ReleaseSummaryOut):
    runbook_version: int
    required_signoffs: list[str]
    items: list[ItemOut]
    signoffs: list[SignOffOut]
    files: list[FileOut]
    jobs: list[JobSummaryOut]
    deployments: list[DeploymentOut]
    peer_review: PeerReviewOut | None
    break_glass: list[FollowUpOut]


# --- migrations and evidence ----------------------------------------------------------------


class MigrationsOut(Schema):
    release: int
    commit_sha: str
    files: int
    added: list[str]
    removed: list[str]
    changed: list[str]
    skipped: list[str] = Field(description="Files the Supabase CLI would skip.")
    stale_signoffs: int
    stale_items: int
    digest: str
    content_digest: str
    state: str


class CiRunIn(In):
    step: StepKey = Field(
        description="A runbook step's key, or the evidence kind its steps take (ci:staging_apply)."
    )
    kind: Literal["ci_run"]
    status: Literal["passed", "failed"]
    run_url: Url
    commit_sha: Sha
    summary: Summary = ""
    content_digest: ContentDigest = Field(
        "",
        description="The release's `content_digest` (GET /releases/{id}) the run tested. "
        "When given it must be the current one (else **409**): the result then proves "
        "exactly these files. Without it, the result is recorded for the content current "
        "when it arrives, unless other files were uploaded under the same commit (**409**: "
        "name the digest the run tested).",
    )


class SecretsIn(In):
    step: StepKey = Field(description="A runbook step's key, or ci:secrets.")
    kind: Literal["secrets"]
    names: Annotated[list[EnvName], Field(max_length=200)] = Field(
        description="Names of the secrets that are set in CI. Names only: never values."
    )
    run_url: Url | None = None


EvidenceIn = Annotated[CiRunIn | SecretsIn, Field(discriminator="kind")]


class EvidenceReportOut(Schema):
    release: int
    step: str
    item_state: str
    steps: list[str] = Field(description="Every step whose item got the evidence.")
    evidence: EvidenceOut
    missing_names: list[str] = Field(
        default_factory=list, description="Required secret names CI did not report."
    )
    stale_signoffs: int
    digest: str
    state: str


class PullRequestIn(In):
    url: Url
    approvals: Annotated[int, Field(ge=0, le=1000)]
    template_checklist_complete: bool
    commit_sha: Sha = Field(
        description="The commit CI found the pull request by (the release's commit): a report "
        "for another commit is **409**, and without it **422**."
    )
    content_digest: ContentDigest = Field(
        "",
        description="The release's `content_digest` the review was reported for: the same "
        "rules as a CI result's (**409** when it is not the current one, or when it is "
        "missing once other files were uploaded under the same commit).",
    )


class PullRequestOut(Schema):
    release: int
    peer_review: PeerReviewOut
    attached_to: list[str] = Field(description="Steps whose items got the PR as evidence.")


# --- gate ---------------------------------------------------------------------------------


class GateItemOut(Schema):
    item: int
    step: str
    text: str
    section: str
    owner: str
    owner_label: str
    state: str


class GateSignOffOut(Schema):
    kind: str
    label: str
    who: str
    signed_at: str | None = None
    stale_since: str | None = None
    why: str | None = None


class GateFreezeOut(Schema):
    id: int
    starts_at: str
    ends_at: str
    reason: str


class GateOldBackupOut(Schema):
    file: str
    taken_at: str
    max_age_hours: int


class GateUnconfirmedOverrideOut(Schema):
    id: int
    by: str
    at: str
    reason: str


# The break-glass that opens the gate: what is said of one awaiting its second lead, then
# until when it holds and who confirmed it (the gate builds it the same way). A comment,
# not a docstring: a docstring would become the schema's description in the API docs.
class GateOverrideOut(GateUnconfirmedOverrideOut):
    expires_at: str
    confirmed_by: str | None = Field(
        None, description="The second platform lead who confirmed it (when the project asks)."
    )


class GateCheckFailureOut(Schema):
    kind: str = Field(
        description="The check's source: `job:<kind>`, `ci`, `backup`, `rollback_plan`, "
        "`secrets`, `pull_request` or `runbook_lint`."
    )
    status: str = Field(description="`failed`.")
    job: int | None = Field(description="The job whose result failed (null for CI, reports).")
    evidence: int
    summary: str


class GateCheckOut(Schema):
    item: int
    step: str
    text: str
    state: str = Field(description="The item's state: a tick does not override a failed check.")
    status: str = Field(
        description="`failed`: the latest automated result for the current content digest "
        "failed; `missing`: no automated result for it yet."
    )
    kinds: list[str] = Field(description="The evidence kinds the step names.")
    failures: list[GateCheckFailureOut]
    explanation: str


class WaiverOut(Schema):
    id: int
    item: int
    step: str
    text: str
    kind: str = Field(description="`check` (a failed or missing check) or `not_applicable`.")
    reason: str
    check: dict[str, Any] = Field(description="The check as it stood when the waiver was asked.")
    asked_by: str
    asked_at: str | None
    approved_by: str | None = Field(description="The second person (never the asker).")
    approved_at: str | None
    content_digest: str = Field(
        description="The content it waives the check for: new content makes it stale."
    )


class GatePeerReviewOut(Schema):
    url: str
    approvals: int
    template_checklist_complete: bool
    complete: bool
    commit_sha: str = Field(description="The commit it was reported for.")
    current: bool = Field(description="Reported for the release's current commit and files.")


class GateRiskOut(Schema):
    required: bool = Field(description="The rule is on for the project.")
    code: Literal["risk_result_missing", "high_risk_needs_sre_signoff"] | None = Field(
        description="What the rule holds the gate for (null when it holds nothing)."
    )
    message: str
    level: Literal["low", "medium", "high"] | None = Field(
        description="The current risk result's level (null without one)."
    )
    job: int | None = Field(description="The risk job the rule read.")


class GateOut(Schema):
    release: int
    open: bool
    digest: str
    state: str
    error: str | None = Field(description="Why the gate is closed (null when open).")
    reasons: list[str]
    missing_items: list[GateItemOut]
    missing_signoffs: list[GateSignOffOut]
    stale_signoffs: list[GateSignOffOut]
    freeze: GateFreezeOut | None
    override: GateOverrideOut | None
    state_problem: str
    peer_review: GatePeerReviewOut | None
    risk: GateRiskOut | None = Field(
        description="The high-risk rule (null when the project's setting is off)."
    )
    failed_checks: list[GateCheckOut] = Field(
        description="Evidence-required items whose check failed or has no passing result for "
        "the current content digest, and that no approved waiver lets past (the gate's 409 "
        "reason `check(s) failed or have no passing result`)."
    )
    waivers: list[WaiverOut] = Field(
        description="Approved waivers for the current content digest: each a reason, the "
        "person who asked and the second person who approved. In 200 and 409 bodies."
    )
    has_migrations: bool = Field(
        description="False: the release has no migration files and cannot be approved (409 "
        "reason `the release has no migration files`)."
    )
    override_unconfirmed: GateUnconfirmedOverrideOut | None = Field(
        description="A break-glass that waits for a second platform lead's confirmation "
        "(it does not open the gate yet)."
    )
    old_backup: GateOldBackupOut | None = Field(
        description="The verified production backup proving the backup step, when it is "
        "older than the project allows (runbook §5.1: taken before the production apply); "
        "null otherwise. Take and verify another."
    )


# --- analysis (what a release does to the database) ---------------------------------------


class AnalysisJobOut(Schema):
    id: int
    summary: str
    finished_at: datetime | None
    target: str | None
    current: bool = Field(description="Made for the release's current content digest.")
    content_digest: str


class AnalysisRiskOut(Schema):
    job: AnalysisJobOut
    level: Literal["low", "medium", "high"] | None
    reasons: list[str]
    hazards: int
    statements: list[dict[str, Any]] = Field(
        description="Every pending statement, hazards first: file, line, tables, lock, "
        "blocks, rewrites, scans, table_sizes, destroys, lock_held_seconds, hazards, risk..."
    )
    data_loss: list[dict[str, Any]] = Field(
        description="Each loss (file, line, table, column, what, count, method, note) with "
        "backup {holds, why, backup, file, rows} and rollback {step, kind, restores_rows, "
        "loses, why}."
    )
    backup: dict[str, Any] | None
    rollback_plan: dict[str, Any] | None
    schema_change: list[str]
    notes: list[str]


class AnalysisAccessOut(Schema):
    job: AnalysisJobOut
    changes: list[dict[str, Any]] = Field(
        description="Changed cells: principal, operation, relation, before, after, line, tested."
    )
    change_lines: list[str]
    principals: list[dict[str, Any]]
    relations: list[str]
    lints_new: list[dict[str, Any]]
    lints_fixed: list[dict[str, Any]]
    method: str
    notes: list[str]
    exercised_by_tests: list[dict[str, Any]] | None = Field(
        description="Per relation and operation, whether the RLS tests of the same "
        "migrations touched it (`tested`), measured by the RLS job from PostgreSQL's table "
        "statistics (not per role); null when no RLS run measured it. Each of `changes` "
        "carries `tested` the same way."
    )
    rls_job: int | None = Field(description="The RLS job that measured it.")
    exercised_note: str


class AnalysisOut(Schema):
    release: int
    content_digest: str
    risk: AnalysisRiskOut | None
    access: AnalysisAccessOut | None


# --- jobs ---------------------------------------------------------------------------------


class JobIn(In):
    kind: Job.Kind
    target: TargetName | None = None


class JobAttemptOut(Schema):
    attempt: int | None
    worker: str
    started_at: datetime | None
    ended_at: datetime | None = Field(description="null while the attempt runs")
    outcome: str = Field(description="the state it ended in, or why the reaper took it back")


class JobOut(JobSummaryOut):
    release: int | None
    started_at: datetime | None
    error: str
    log_count: int
    already_active: bool = False
    attempts: list[JobAttemptOut] = Field(
        default_factory=list, description="Each attempt's worker, start and end, oldest first."
    )


class LogLineOut(Schema):
    seq: int
    at: datetime
    stream: str
    text: str


class JobLogOut(Schema):
    job: JobOut
    lines: list[LogLineOut]
    next_after: int = Field(description="Pass as ?after= to get the lines after these.")
    done: bool


# --- deployments --------------------------------------------------------------------------


class DeploymentStartIn(In):
    target: TargetName
    status: Literal["started"]
    kind: Literal["deploy", "rollback"] = "deploy"
    digest: Annotated[str, StringConstraints(pattern=r"^([0-9a-f]{64})?$")] = Field(
        "", description="The digest the gate answered; required for production."
    )
    run_url: Url | None = None


class DeploymentFinishIn(In):
    status: Literal["succeeded", "failed"]
    log_url: Url | None = None


# The error statuses every operation may answer (the gate answers 409 with GateOut).
ERRORS = frozenset({400, 401, 403, 404, 409, 413, 422})
