"""Everything that changes a release: create, ingest migrations, tick, sign, move.

Each service is keyword-only and one transaction, and writes its AuditEvent inside it.
Views, the API, tasks and management commands all call these.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from checklists import bundles, digest, rules
from checklists.models import (
    ChecklistItem,
    Evidence,
    MigrationFile,
    Release,
    RunbookVersion,
)
from migrations_ops.pg.supabase_files import parse_filename
from release_portal.accounts.roles import Action, can, roles_in
from release_portal.audit.services import actor_of, audit_record
from release_portal.webhooks import events


class ChecklistError(ValidationError):
    """A refusal the user can act on."""


class AlreadyDone(ChecklistError):
    pass


def _when(at: Any) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else "an earlier time"


def _latest_published(project: Any) -> RunbookVersion:
    from checklists.runbooks.selectors import latest_published_version

    version = latest_published_version(project)
    if version is None:
        raise ChecklistError(
            f"{project} has no published runbook yet: a platform lead imports and publishes "
            "one on the Runbooks page first."
        )
    return version


def normalise_sha(commit_sha: str) -> str:
    sha = (commit_sha or "").strip().lower()
    if not re.fullmatch(r"[0-9a-f]{40}", sha):
        raise ChecklistError(
            f"{commit_sha[:60]!r} is not a commit SHA: give all 40 hexadecimal characters "
            "(`git rev-parse HEAD`)."
        )
    return sha


# --- creating a release ------------------------------------------------------------------


@transaction.atomic
def release_create(
    *,
    project: Any,
    title: str,
    owner: Any,
    commit_sha: str,
    created_by: Any,
    planned_for: date | None = None,
) -> Release:
    """A release of ``commit_sha`` pinning the latest published runbook, one item per step."""
    sha = normalise_sha(commit_sha)
    title = title.strip()
    if not title:
        raise ChecklistError("Give the release a title.")
    if not roles_in(owner, project):
        raise ChecklistError(f"{owner} is not a member of {project} and cannot own its release.")
    version = _latest_published(project)
    release = Release.objects.create(
        project=project,
        title=title[:200],
        owner=owner,
        commit_sha=sha,
        planned_for=planned_for,
        runbook_version=version,
        created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
    )
    ChecklistItem.objects.bulk_create(
        ChecklistItem(release=release, step=step) for step in version.steps.order_by("position")
    )
    _attach_runbook_lint(release, version)
    _refresh_digests(release)
    release.save(update_fields=["content_digest", "digest"])
    audit_record(
        actor=created_by,
        action="release.create",
        obj=release,
        data={
            "title": release.title,
            "commit": sha,
            "owner": owner.get_username(),
            "runbook_version": version.number,
            "planned_for": planned_for,
        },
    )
    return release


def _attach_runbook_lint(release: Release, version: RunbookVersion) -> None:
    """The pinned version's lint result is evidence for the "runbook review" step."""
    from checklists.runbooks.selectors import runbook_lint_evidence_summary
    from checklists.services.items import evidence_add, items_for_evidence
    from release_portal.audit.services import Actor

    items = items_for_evidence(release, "runbook_lint")
    if not items:
        return
    lint = runbook_lint_evidence_summary(version)
    for item in items:
        evidence_add(
            item=item,
            actor=Actor.system("runbook lint"),
            kind=Evidence.Kind.RUNBOOK_LINT,
            status=lint["status"],
            summary=lint["summary"],
            data=lint["data"],
            content_digest="",
        )


# --- digests, staleness and state --------------------------------------------------------


def _refresh_digests(release: Release) -> dict[str, Any]:
    snapshot = digest.release_snapshot(release)
    release.content_digest = snapshot["content_digest"]
    release.digest = digest.digest_of_snapshot(snapshot)
    return snapshot


@dataclass
class Refresh:
    digest_changed: bool
    content_changed: bool
    stale_signoffs: int
    stale_items: int


def release_refresh(*, release: Release, actor: Any, reason: str) -> Refresh:
    """Recompute digests; mark sign-offs and outdated items stale; move the state.

    Must be called inside the transaction of the change that may have altered the
    release (a tick, new evidence, new files). Writes audit events for what went stale.
    """
    old_content, old_digest = release.content_digest, release.digest
    _refresh_digests(release)
    stale_items = 0
    if release.content_digest != old_content:
        # Items ticked on evidence produced for other files are no longer proven.
        outdated = (
            ChecklistItem.objects.filter(release=release, state=ChecklistItem.State.DONE)
            .filter(evidence__digest__gt="")
            .exclude(evidence__digest=release.content_digest)
            .distinct()
        )
        for item in outdated.select_related("step"):
            item.state = ChecklistItem.State.STALE
            item.revision += 1
            item.save(update_fields=["state", "revision", "updated_at"])
            audit_record(
                actor=actor,
                action="item.stale",
                obj=item,
                release=release,
                data={"step": item.step.key, "reason": "its evidence was for other migrations"},
            )
            stale_items += 1
        if stale_items:
            _refresh_digests(release)
    stale_signoffs = 0
    if release.digest != old_digest:
        now = timezone.now()
        for signoff in release.signoffs.filter(stale_at__isnull=True).select_related("user"):
            signoff.stale_at = now
            signoff.stale_reason = reason[:300]
            signoff.save(update_fields=["stale_at", "stale_reason"])
            audit_record(
                actor=actor,
                action="signoff.stale",
                obj=signoff,
                release=release,
                data={"user": signoff.user.get_username(), "kind": signoff.kind, "why": reason},
            )
            events.signoff_stale(signoff=signoff, reason=reason, actor=actor)
            stale_signoffs += 1
        _reopen_signoff_items(release)
    release.save(update_fields=["content_digest", "digest", "updated_at"])
    _move_state(release, actor)
    return Refresh(
        release.digest != old_digest,
        release.content_digest != old_content,
        stale_signoffs,
        stale_items,
    )


def _reopen_signoff_items(release: Release) -> None:
    """A stale sign-off leaves the sign-off step open again."""
    for item in release.items.filter(step__is_signoff=True, state=ChecklistItem.State.DONE):
        item.state = ChecklistItem.State.STALE
        item.revision += 1
        item.save(update_fields=["state", "revision", "updated_at"])


def _derived_state(release: Release) -> str:
    items = list(release.items.select_related("step"))
    checklist = [i for i in items if not i.step.is_signoff]
    if checklist and all(i.is_settled for i in checklist):
        required = rules.signoff_kinds_required(release)
        current = {
            s.kind for s in release.signoffs.filter(stale_at__isnull=True, digest=release.digest)
        }
        return Release.State.APPROVED if set(required) <= current else Release.State.READY
    active = (
        any(i.state != ChecklistItem.State.OPEN for i in items)
        or release.migrations_source != ""
        or release.jobs.exists()
    )
    return Release.State.PREFLIGHT if active else Release.State.DRAFT


def _move_state(release: Release, actor: Any) -> None:
    if release.state not in rules.PRE_DEPLOY:
        return
    target = _derived_state(release)
    if target != release.state:
        release_transition(release=release, to=target, actor=actor, reason="checklist changed")


def release_transition(
    *, release: Release, to: str, actor: Any, reason: str = "", break_glass: Any = None
) -> None:
    """Move the release along an allowed edge of rules.TRANSITIONS, audited.

    ``break_glass`` (a GateOverride) lets a deployment start from a state before approval,
    off the edges; the event names it.
    """
    if release.state == to:
        return
    if not rules.can_transition(release.state, to) and break_glass is None:
        raise ChecklistError(
            f"A release cannot go from {release.get_state_display()} to {Release.State(to).label}."
        )
    before = release.state
    release.state = to
    release.save(update_fields=["state", "updated_at"])
    data = {"from": before, "to": to, "reason": reason}
    if break_glass is not None:
        data["break_glass"] = break_glass.pk
    audit_record(actor=actor, action="release.state", obj=release, data=data)
    if to == Release.State.APPROVED:
        events.release_approved(release=release, actor=actor)


@transaction.atomic
def release_cancel(*, release: Release, user: Any, reason: str) -> None:
    if not can(user, Action.EDIT_RELEASE, release.project_id):
        raise PermissionDenied("Only platform leads and release engineers cancel releases.")
    if not reason.strip():
        raise ChecklistError("Say why the release is cancelled.")
    release = Release.objects.select_for_update().get(pk=release.pk)
    release_transition(release=release, to=Release.State.CANCELLED, actor=user, reason=reason)


# --- migrations -------------------------------------------------------------------------


@dataclass
class IngestResult:
    added: list[str]
    removed: list[str]
    changed: list[str]
    skipped: list[str]
    refresh: Refresh

    @property
    def changed_anything(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def _migration_rows(
    files: list[bundles.BundleFile], *, supabase_dir: str, rollbacks_dir: str
) -> tuple[list[MigrationFile], list[str]]:
    """MigrationFile rows (unsaved) for supabase/migrations/*.sql, with down scripts."""
    rollbacks_prefix = "supabase/" + rollbacks_dir.strip("/").split("supabase/", 1)[-1] + "/"
    downs: dict[str, bundles.BundleFile] = {}
    for f in files:
        if f.path.startswith(rollbacks_prefix) and f.path.endswith(".sql"):
            parsed = parse_filename(f.path.rsplit("/", 1)[-1])
            if parsed:
                downs.setdefault(parsed[0], f)
    rows: list[MigrationFile] = []
    skipped: list[str] = []
    for f in files:
        folder, _, name = f.path.rpartition("/")
        if folder != "supabase/migrations":
            continue
        parsed = parse_filename(name)
        if parsed is None:
            skipped.append(name)
            continue
        try:
            sql = f.data.decode("utf-8")
        except UnicodeDecodeError:
            raise ChecklistError(f"{name} is not UTF-8 text; nothing was stored") from None
        if "\x00" in sql:
            raise ChecklistError(f"{name} holds NUL bytes; nothing was stored")
        down = downs.get(parsed[0])
        down_sql = down.data.decode("utf-8", errors="replace") if down else ""
        rows.append(
            MigrationFile(
                filename=name,
                version=parsed[0],
                name=parsed[1],
                sha256=bundles.sha256_hex(f.data),
                size=len(f.data),
                sql=sql,
                down_filename=down.path.rsplit("/", 1)[-1] if down else "",
                down_sha256=bundles.sha256_hex(down.data) if down else "",
                down_sql=down_sql,
            )
        )
    if not rows:
        raise ChecklistError(
            "no migration files found: expected supabase/migrations/<version>_<name>.sql "
            + (f"(skipped: {', '.join(sorted(skipped)[:5])})" if skipped else "")
        )
    return sorted(rows, key=lambda r: (r.version, r.filename)), sorted(skipped)


@transaction.atomic
def release_set_migrations(
    *,
    release: Release,
    files: list[bundles.BundleFile],
    source: str,
    actor: Any,
    commit_sha: str | None = None,
) -> IngestResult:
    """Replace the release's migration files (and bundle); what changed goes stale.

    ``commit_sha`` moves the release to a new commit at the same time (e.g. the merge
    commit on main). Nothing is stored unless every file is acceptable.
    """
    release = Release.objects.select_for_update().select_related("project").get(pk=release.pk)
    if release.state not in rules.OPEN_FOR_CHANGES:
        raise ChecklistError(
            f"The release is {release.get_state_display().lower()}: its migrations are frozen."
        )
    project = release.project
    rows, skipped = _migration_rows(
        files, supabase_dir=project.supabase_dir, rollbacks_dir=project.rollbacks_dir
    )
    old = {f.filename: f for f in release.migration_files.all()}
    new = {r.filename: r for r in rows}
    added = sorted(new.keys() - old.keys())
    removed = sorted(old.keys() - new.keys())
    changed = sorted(
        n
        for n in new.keys() & old.keys()
        if (new[n].sha256, new[n].down_sha256) != (old[n].sha256, old[n].down_sha256)
    )
    before_sha = release.commit_sha
    if commit_sha:
        release.commit_sha = normalise_sha(commit_sha)
    release.migration_files.all().delete()
    for row in rows:
        row.release = release
    MigrationFile.objects.bulk_create(rows)
    bundle = bundles.build_bundle(files)
    from django.core.files.base import ContentFile

    release.bundle.save(f"release-{release.pk}.tar.gz", ContentFile(bundle), save=False)
    release.bundle_sha256 = bundles.sha256_hex(bundle)
    release.migrations_source = source
    who = actor_of(actor)
    release.migrations_uploaded_by = actor if who.kind == "user" else None
    release.migrations_uploaded_at = timezone.now()
    release.save()
    audit_record(
        actor=actor,
        action="release.migrations",
        obj=release,
        data={
            "source": source,
            "commit": {"from": before_sha, "to": release.commit_sha},
            "files": len(rows),
            "added": added,
            "removed": removed,
            "changed": changed,
            "skipped": skipped,
            "bundle_sha256": release.bundle_sha256,
        },
    )
    what = []
    if release.commit_sha != before_sha:
        what.append(f"moved to commit {release.commit_sha[:12]}")
    if added or removed or changed:
        what.append(
            f"migrations changed ({len(added)} added, {len(removed)} removed, "
            f"{len(changed)} changed)"
        )
    refresh = release_refresh(
        release=release, actor=actor, reason="; ".join(what) or "migrations uploaded again"
    )
    return IngestResult(added, removed, changed, skipped, refresh)


def release_upload_archive(
    *,
    release: Release,
    data: bytes,
    filename: str,
    actor: Any,
    source: str = "upload",
    commit_sha: str | None = None,
) -> IngestResult:
    files = bundles.read_archive(data, filename=filename)  # BundleError before any write
    return release_set_migrations(
        release=release, files=files, source=source, actor=actor, commit_sha=commit_sha
    )


def release_read_git(
    *, release: Release, actor: Any, commit_sha: str | None = None
) -> IngestResult:
    project = release.project
    if not project.repo_path:
        raise ChecklistError(
            "The project has no git checkout configured: set its repository path in the "
            "project settings, or upload the supabase/ folder instead."
        )
    sha = normalise_sha(commit_sha or release.commit_sha)
    files = bundles.read_git_commit(project.repo_path, sha, project.supabase_dir)
    return release_set_migrations(
        release=release,
        files=files,
        source=Release.MigrationsSource.GIT,
        actor=actor,
        commit_sha=sha,
    )
