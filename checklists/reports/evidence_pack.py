"""The evidence pack: one zip an auditor can keep, holding everything the release rests on.

Layout (``release-portal-evidence-pack/1``):

- ``report.md``: the release report (see checklists/reports/release_report.py);
- ``audit.jsonl``: the change log from the release's first event to the head, as the
  audit page exports it filtered on the release (``release-portal-audit/2``: the
  release's events, placeholders for the others, the signed checkpoint last);
- ``checkpoint.json``, ``public-key.pem`` and ``verify_changelog.py``: the signed head,
  the key that signed it, and the script that checks this pack offline:
  ``python3 verify_changelog.py pack.zip --public-key portal-key.pem``, with the key the
  auditor keeps (the pack's own ``public-key.pem`` proves nothing: a forger replaces it);
- ``audit-verify.json``: the whole chain verified now (``chain``), the head, and for each
  of the release's events whether its hash matches its content, whether it links to the
  event before it, and whether it lies inside the verified part of the chain;
- ``jobs/<id>-<kind>.log`` (log lines, ``<UTC time> [stream] text``) and
  ``jobs/<id>-<kind>.json`` (state, timing, summary and result) for each of its jobs;
  for a job over production's rows (restore check, rehearsal) only a pack made for an SRE
  or a platform lead holds them: anyone else's holds its state, timing and verdict, and
  ``output_withheld`` (``migrations_ops.jobs.output``); its backups' findings likewise;
- ``backups/<dump>.manifest.json``: see the BackupManifest hook below;
- ``analysis.json``: what the release does to the database (the newest risk and access
  results, each loss with its backup and rollback step), as the API's
  ``/releases/<id>/analysis`` answers it;
- ``evidence/<evidence id>-<file name>``: files uploaded as evidence;
- ``bundle/supabase/...``: the approved files themselves (the migrations' SQL, down
  scripts, tests, fixtures, seeds, scripts, config.toml) of the bundle the newest
  sign-off approved, or the current one when nobody signed, and ``bundle.json`` (its
  digest, which it is, and each file's kind, sha256 and size);
- ``waivers.json``: every waiver of the release (reason, asker, approver, state);
- ``contents.json``, written last: each file's size and sha256, and what was missing,
  signed with the portal's key (``signature``, see release_portal/audit/signing.py).

The zip is written to a spooled temporary file (memory up to ``SPOOL_BYTES``, then disk)
and every large part is copied in chunks, so memory stays bounded whatever the logs weigh.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from checklists.bundles import BundleError, stored_bundle_files
from checklists.changes.diffs import signed_bundle
from checklists.models import Evidence, Release
from checklists.reports.release_report import evidence_file_path, release_report_markdown
from migrations_ops.analysis.selectors import release_analysis
from migrations_ops.jobs.output import WITHHELD, holds_production_rows, verdict
from migrations_ops.jobs.scrub import scrub_data, scrub_paths
from migrations_ops.models import Job, JobLogLine
from release_portal.audit.chain import canonical_time
from release_portal.audit.checkpoints import checkpoint_sign, sign_manifest
from release_portal.audit.exports import offline_script, release_export_chunks
from release_portal.audit.models import AuditCheckpoint
from release_portal.audit.selectors import audit_head, release_events
from release_portal.audit.verify import audit_verify, events_in_chain

FORMAT = "release-portal-evidence-pack/1"
SPOOL_BYTES = 8 * 1024 * 1024
COPY_CHUNK = 256 * 1024


class _PackWriter:
    """Adds files to the zip while noting each one's size and sha256 for contents.json."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        self.files: list[dict[str, Any]] = []
        self.missing: list[dict[str, str]] = []

    def add(self, name: str, chunks: Iterable[bytes]) -> None:
        digest, size = hashlib.sha256(), 0
        with self.archive.open(name, "w", force_zip64=True) as out:
            for chunk in chunks:
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        self.files.append({"name": name, "size": size, "sha256": digest.hexdigest()})

    def add_json(self, name: str, obj: Any) -> None:
        self.add(name, [_json(obj)])


def _json(obj: Any) -> bytes:
    text = json.dumps(obj, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2, sort_keys=True)
    return (text + "\n").encode()


# --- audit-verify.json -----------------------------------------------------------------


def release_chain_check(release: Release) -> dict[str, Any]:
    """Verify the whole chain now, then place each of the release's events in it."""
    result = audit_verify()
    checks = events_in_chain(release_events(release), result)
    return {
        "format": FORMAT,
        "verified_at": canonical_time(timezone.now()),
        "chain": result.as_dict(),
        "head": audit_head().as_dict(),
        "release": {"id": release.pk, "project_id": release.project_id},
        "release_events": {
            "count": len(checks),
            "all_linked": all(
                c["hash_matches_content"] and c["links_to_previous"] and c["inside_verified_chain"]
                for c in checks
            ),
            "events": checks,
        },
    }


# --- jobs ----------------------------------------------------------------------------------


def _job_log(job: Job) -> Iterator[bytes]:
    lines = (
        JobLogLine.objects.filter(job=job)
        .order_by("seq")
        .values_list("at", "stream", "text")
        .iterator(chunk_size=2000)
    )
    batch: list[str] = []
    for at, stream, text in lines:
        batch.append(f"{canonical_time(at)} [{stream}] {scrub_paths(text)}\n")
        if len(batch) >= 500:
            yield "".join(batch).encode()
            batch.clear()
    yield "".join(batch).encode()


def _withheld_log() -> Iterator[bytes]:
    yield f"{WITHHELD}\n".encode()


def _job_record(job: Job, *, output: bool = True) -> dict[str, Any]:
    fields = ["id", "kind", "state", "ok", "summary", "error", "attempts", "worker",
              "created_by_name", "content_digest", "params", "result", "log_count",
              "log_truncated", "created_at", "started_at", "finished_at"]  # fmt: skip
    record = {name: getattr(job, name) for name in fields}
    # What people read carries no server path (migrations_ops.jobs.scrub).
    for name in ("summary", "error", "result"):
        record[name] = scrub_data(record[name])
    if not output:  # what it wrote may quote production's rows (jobs.output)
        record.update(summary=verdict(job), error="", result={}, output_withheld=WITHHELD)
    record["attempt_history"] = job.attempt_history
    # The pack's format (/1) names the job's content digest "release_digest".
    record["release_digest"] = record.pop("content_digest")
    record["target"] = job.target.name if job.target_id and job.target else None
    return record


# --- backup manifests ---------------------------------------------------------------------


def backup_manifest_files(
    release: Release, *, findings: bool = True
) -> Iterator[tuple[str, bytes]]:
    """Each backup of the release: its manifest (as written beside the dump) with the
    portal's verification and the Supabase snapshot reference the SRE logged. Without
    ``findings``, the restore check's words and differences (they may quote production's
    rows, ``migrations_ops.jobs.output``) are left out, saying so."""
    from migrations_ops.models import BackupManifest

    for backup in BackupManifest.objects.filter(release=release).order_by("pk"):
        manifest = dict(backup.manifest or {})
        verification = dict(backup.verification or {})
        if not findings:
            for found in (manifest.get("verification"), verification):
                if isinstance(found, dict) and found:
                    found.update(summary=WITHHELD, differences=[])
        record = {
            **manifest,
            "portal": {
                "backup_id": backup.pk,
                "target": backup.target.name if backup.target_id else None,
                "file": backup.file_name,
                "sha256": backup.sha256,
                "size": backup.size,
                "verify_state": backup.verify_state,
                "verified_at": backup.verified_at,
                "verification": verification,
                "snapshot_ref": backup.snapshot_ref,
                "deleted": backup.deleted_at is not None,
            },
        }
        yield f"backups/{backup.file_name}.manifest.json", _json(record)


# --- uploaded evidence -------------------------------------------------------------------


def _file_chunks(handle: IO[bytes]) -> Iterator[bytes]:
    while chunk := handle.read(COPY_CHUNK):
        yield chunk


def _evidence_files(release: Release, pack: _PackWriter) -> None:
    uploads = Evidence.objects.filter(item__release=release).exclude(file="").order_by("pk")
    for evidence in uploads:
        name = evidence_file_path(evidence)
        try:
            with evidence.file.open("rb") as handle:
                pack.add(name, _file_chunks(handle))
        except FileNotFoundError:
            pack.missing.append({"name": name, "why": "the uploaded file is no longer stored"})


# --- the approved files ---------------------------------------------------------------------


def _bundle_files(release: Release, pack: _PackWriter) -> None:
    signed = signed_bundle(release)
    bundle = signed or release.bundle
    if bundle is None:
        return
    try:
        files = stored_bundle_files(bundle)
    except (OSError, BundleError) as e:
        pack.missing.append({"name": "bundle/", "why": f"the stored bundle is unreadable: {e}"})
        return
    pack.add_json(
        "bundle.json",
        {
            "digest": bundle.digest,
            "which": "approved by the newest sign-off" if signed else "current (not signed)",
            "current": bundle.pk == release.bundle_id,
            "files": bundle.files,
        },
    )
    for f in files:
        pack.add(f"bundle/{f.path}", [f.data])


# --- the pack ---------------------------------------------------------------------------------


def _waivers(release: Release) -> list[dict[str, Any]]:
    """Every waiver of the release (asked, approved, withdrawn, stale) with both people."""
    from checklists.models import Waiver

    out = []
    for w in (
        Waiver.objects.filter(release=release)
        .select_related("item__step", "asked_by", "approved_by", "revoked_by")
        .order_by("asked_at", "pk")
    ):
        w.release = release
        out.append({
            "id": w.pk, "step": w.item.step.key, "kind": w.kind, "reason": w.reason,
            "state": w.state, "content_digest": w.content_digest,
            "release_digest": w.release_digest, "check": w.check_result,
            "asked_by": w.asked_by.get_username(), "asked_at": canonical_time(w.asked_at),
            "approved_by": w.approved_by.get_username() if w.approved_by else None,
            "approved_at": canonical_time(w.approved_at) if w.approved_at else None,
            "revoked_by": w.revoked_by.get_username() if w.revoked_by else None,
            "revoked_at": canonical_time(w.revoked_at) if w.revoked_at else None,
            "revoke_reason": w.revoke_reason,
        })  # fmt: skip
    return out


def evidence_pack_write(
    release: Release, out: IO[bytes], *, base_url: str | None = None, output: bool = True
) -> None:
    """Write the release's evidence pack as a zip into ``out`` (see the module docstring):
    without ``output``, for a reader who may not read what the jobs over production's rows
    wrote (``migrations_ops.jobs.output.may_read_production_rows``), without it."""
    checkpoint = checkpoint_sign(reason=AuditCheckpoint.Reason.EVIDENCE_PACK)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        pack = _PackWriter(archive)
        pack.add("report.md", [release_report_markdown(release, base_url=base_url).encode()])
        pack.add("audit.jsonl", release_export_chunks(release, checkpoint))
        pack.add_json("checkpoint.json", checkpoint.document)
        pack.add("public-key.pem", [checkpoint.public_key_pem().encode()])
        pack.add("verify_changelog.py", [offline_script()])
        pack.add_json("audit-verify.json", release_chain_check(release))
        jobs = (
            Job.objects.filter(release=release, project_id=release.project_id)
            .select_related("target")
            .order_by("pk")
        )
        for job in jobs:
            shown = output or not holds_production_rows(job.kind)
            pack.add(f"jobs/{job.pk}-{job.kind}.log", _job_log(job) if shown else _withheld_log())
            pack.add_json(f"jobs/{job.pk}-{job.kind}.json", _job_record(job, output=shown))
        for name, data in backup_manifest_files(release, findings=output):
            pack.add(name, [data])
        # What the release does to the database (also in report.md), as data.
        pack.add_json("analysis.json", release_analysis(release))
        _evidence_files(release, pack)
        _bundle_files(release, pack)
        pack.add_json("waivers.json", _waivers(release))
        contents = {
            "format": FORMAT,
            "release": release.pk,
            "written_at": canonical_time(timezone.now()),
            "files": pack.files,
            "missing": pack.missing,
            "checkpoint": checkpoint.document,
        }
        archive.writestr("contents.json", _json(sign_manifest(contents, checkpoint)))


def evidence_pack_spooled(
    release: Release, *, base_url: str | None = None, output: bool = True
) -> IO[bytes]:
    """The pack in a spooled temporary file, rewound, for a response to stream."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - the response closes it
    evidence_pack_write(release, spool, base_url=base_url, output=output)
    spool.seek(0)
    return spool
