"""A release's migration files and bundle: uploaded, read from git, or sent by CI."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from checklists import bundles, rules
from checklists.models import Bundle, BundleUpload, MigrationFile, Release
from checklists.services.errors import ChecklistError, content_changed_since
from checklists.services.releases import normalise_sha
from checklists.services.state import Refresh, release_refresh
from migrations_ops.pg.supabase_files import LocalMigration, check_versions, parse_filename
from release_portal.audit.services import Actor, actor_of, audit_record


@dataclass
class IngestResult:
    added: list[str]
    removed: list[str]
    changed: list[str]
    skipped: list[str]
    refresh: Refresh
    # What the Supabase CLI would fail on though the files were stored (two files of one
    # version), in words; the Migration order check says it again.
    problems: list[str] = field(default_factory=list)

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
        if folder.startswith("supabase/migrations/"):
            # The CLI reads supabase/migrations itself, never a folder inside it.
            inner = folder.removeprefix("supabase/migrations/").split("/", 1)[0] + "/"
            if inner not in skipped:
                skipped.append(inner)
            continue
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
            "no migration files found: the Supabase CLI applies the files named "
            "<version>_<name>.sql (e.g. 20250101000000_create_app.sql) directly in "
            "supabase/migrations"
            + (f"; it would skip {', '.join(sorted(skipped)[:5])}" if skipped else "")
        )
    return sorted(rows, key=lambda r: (r.version, r.filename)), sorted(skipped)


def bundle_store(*, project: Any, files: list[bundles.BundleFile]) -> Bundle:
    """The project's bundle holding exactly ``files``: the stored one when the same files
    came before (whatever archive brought them), else a new one. Never changes a bundle."""
    listing = bundles.file_listing(files, bundles.FileRules.of(project))
    digest = bundles.contents_digest(listing)
    existing = Bundle.objects.filter(project=project, digest=digest).first()
    if existing is not None:
        return existing
    data = bundles.build_bundle(files)
    bundle = Bundle(
        project=project,
        digest=digest,
        archive_sha256=bundles.sha256_hex(data),
        files=listing,
        size=sum(f["size"] for f in listing),
    )
    bundle.archive.save(f"{digest}.tar.gz", ContentFile(data), save=False)
    try:
        with transaction.atomic():  # a savepoint: the same files uploaded at the same time
            bundle.save()
    except IntegrityError:
        bundle.archive.delete(save=False)
        return Bundle.objects.get(project=project, digest=digest)
    return bundle


@transaction.atomic
def bundles_prune(*, actor: Any = None) -> list[str]:
    """Remove the stored bundles nothing names any more: no release holds it, no upload
    of a release made it current, no job pinned it (a release's deletion takes its
    uploads with it). Each is locked first and deleted through PROTECT, so a bundle
    named meanwhile stays; its archive file goes after the row. The digests removed."""
    actor = actor if actor is not None else Actor.system("bundles_prune")
    removed: list[str] = []
    candidates = Bundle.objects.filter(
        releases__isnull=True, uploads__isnull=True, jobs__isnull=True
    ).select_for_update(of=("self",))
    for bundle in candidates.select_related("project"):
        name = bundle.archive.name or ""
        audit_record(
            actor=actor,
            action="release.bundle_prune",
            obj=bundle,
            project=bundle.project,
            data={"bundle": bundle.digest, "files": len(bundle.files), "size": bundle.size},
        )
        bundle.delete()
        removed.append(bundle.digest)
        transaction.on_commit(partial(bundle.archive.storage.delete, name))
    return removed


@transaction.atomic
def release_set_migrations(
    *,
    release: Release,
    files: list[bundles.BundleFile],
    source: str,
    actor: Any,
    commit_sha: str | None = None,
    seen_content: str | None = None,
) -> IngestResult:
    """Replace the release's migration files (and bundle); what changed goes stale.

    ``commit_sha`` moves the release to a new commit at the same time (e.g. the merge
    commit on main). Nothing is stored unless every file is acceptable. ``seen_content``
    is the content digest the uploader's page showed: other content now refuses, so a
    second tab never silently puts older files back over newer ones.
    """
    release = Release.objects.select_for_update().select_related("project").get(pk=release.pk)
    if release.state not in rules.OPEN_FOR_CHANGES:
        raise ChecklistError(
            f"The release is {release.get_state_display().lower()}: its migrations are frozen."
        )
    if why := content_changed_since(release, seen_content):
        raise ChecklistError(
            f"{why}, and those files stay: look at them (the files listed, and What changed "
            "between uploads), then upload yours again if they should replace them."
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
    before_bundle = release.bundle
    release.bundle = bundle_store(project=project, files=files)
    release.migrations_source = source
    who = actor_of(actor)
    release.migrations_uploaded_by = actor if who.kind == "user" else None
    release.migrations_uploaded_at = timezone.now()
    release.save()
    last = release.uploads.order_by("-number").values_list("number", flat=True).first()
    upload = BundleUpload.objects.create(
        release=release,
        bundle=release.bundle,
        number=(last or 0) + 1,
        commit_sha=release.commit_sha,
        source=source,
        uploaded_by=release.migrations_uploaded_by,
        uploaded_by_name=who.name[:200],
        uploaded_at=release.migrations_uploaded_at,
    )
    other = bundles.listing_changes(
        before_bundle.files if before_bundle else [], release.bundle.files
    )
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
            "bundle": release.bundle.digest,
            "upload": upload.number,
            "other_files": other,
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
    what += [line for line in other if not line.startswith("Migrations ")]
    refresh = release_refresh(
        release=release, actor=actor, reason="; ".join(what) or "migrations uploaded again"
    )
    local = [LocalMigration(r.filename, r.version, r.name, Path(r.filename)) for r in rows]
    problems = [f.message for f in check_versions(local) if f.code == "duplicate_version"]
    return IngestResult(added, removed, changed, skipped, refresh, problems)


def release_upload_archive(
    *,
    release: Release,
    data: bytes,
    filename: str,
    actor: Any,
    source: str = "upload",
    commit_sha: str | None = None,
    seen_content: str | None = None,
) -> IngestResult:
    files = bundles.read_archive(data, filename=filename)  # BundleError before any write
    return release_set_migrations(
        release=release, files=files, source=source, actor=actor, commit_sha=commit_sha,
        seen_content=seen_content,
    )  # fmt: skip


def release_read_git(
    *, release: Release, actor: Any, commit_sha: str | None = None, seen_content: str | None = None
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
        seen_content=seen_content,
    )
