"""scripts/verify_changelog.py: an outsider checks exports with nothing but a public key.

The script runs as a separate Python (``-I``: no project on the path, no environment),
copied alone into a temporary folder, on exports the real code writes. Every way of
tampering with an export must end in exit 1 naming the first bad event.
"""

from __future__ import annotations

import ast
import base64
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.urls import reverse

from release_portal.audit.models import AuditEvent
from tests.audit.conftest import record
from tests.audit.offline import (
    SCRIPT,
    export,
    fails,
    first_event_line,
    lines,
    public_key,
    run,
    write,
)

# --- intact exports -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_it_passes_an_intact_export_and_prints_the_head(tmp_path, capsys, script, log, fmt):
    path = export(tmp_path, fmt)
    key = public_key(tmp_path, capsys)
    done = run(script, path, "--public-key", key)
    assert done.returncode == 0, done.stderr
    head = AuditEvent.objects.order_by("-seq").first()
    assert f"head: #{head.seq} public_hash {head.public_hash} hash {head.hash}" in done.stdout
    assert f"OK: {head.seq:,} events verified, #1 to #{head.seq}" in done.stdout
    # The signing time and reason in words, not "2026-12-06T01:38:33.925621Z (export)".
    signed = done.stdout.splitlines()[-1]
    assert re.fullmatch(
        r"signed by key [0-9a-f]{16} at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(for an export\)",
        signed,
    ), signed


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_it_passes_a_filtered_export_with_its_placeholders(
    tmp_path, capsys, script, log, project, fmt
):
    path = export(tmp_path, fmt, project=project.slug)
    done = run(script, path, "--public-key", public_key(tmp_path, capsys))
    assert done.returncode == 0, done.stderr
    ours = AuditEvent.objects.filter(project_id=project.pk).count()
    first = AuditEvent.objects.filter(project_id=project.pk).order_by("seq").first()
    others = AuditEvent.objects.exclude(project_id=project.pk).filter(seq__gt=first.seq).count()
    assert others > 0
    placeholders = "1 placeholder" if others == 1 else f"{others:,} placeholders"
    assert (
        f"OK: {ours:,} events verified and {placeholders} (events the export left out) linked"
        in done.stdout
    ), done.stdout


def test_it_passes_an_export_since_a_date_from_its_anchor(
    tmp_path, capsys, script, project, monkeypatch
):

    from django.utils import timezone

    for day in (1, 1, 2, 5, 6):
        monkeypatch.setattr(timezone, "now", lambda day=day: datetime(2026, 3, day, 12, tzinfo=UTC))
        record("item.tick", project=project, data={"day": day})
    monkeypatch.undo()
    path = export(tmp_path, since="2026-03-03")
    header = json.loads(lines(path)[0])
    assert header["anchor"]["seq"] == 3  # the last event before the 3rd of March
    assert header["anchor"]["public_hash"] == AuditEvent.objects.get(seq=3).public_hash
    done = run(script, path, "--public-key", public_key(tmp_path, capsys))
    assert done.returncode == 0, done.stderr
    assert "#4 to #" in done.stdout


def test_it_passes_the_web_exports(client, personas, tmp_path, capsys, script, log):
    client.force_login(personas["auditor"])
    for fmt in ("csv", "jsonl"):
        response = client.get(reverse(f"audit_export_{fmt}"), {"action": "item.*"})
        path = tmp_path / f"web.{fmt}"
        path.write_bytes(b"".join(response.streaming_content))
        done = run(script, path, "--public-key", public_key(tmp_path, capsys))
        assert done.returncode == 0, (fmt, done.stderr)


def test_an_outsider_takes_the_checker_and_the_key_from_the_portal_and_checks_an_export(
    client, personas, tmp_path, log
):
    """Handed only an export and the portal's address, the outsider needs no checkout."""
    client.force_login(personas["auditor"])
    page = client.get(reverse("audit_log")).content.decode()
    assert f'href="{reverse("audit_offline_script")}"' in page
    export_path = tmp_path / "web.jsonl"
    export_path.write_bytes(b"".join(client.get(reverse("audit_export_jsonl")).streaming_content))
    client.logout()  # the outsider has no account
    download = client.get(reverse("audit_offline_script"))
    assert download.status_code == 200
    assert download["Content-Disposition"] == 'attachment; filename="verify_changelog.py"'
    assert download.content == SCRIPT.read_bytes()
    alone = tmp_path / "outsider"
    alone.mkdir()
    checker = alone / "verify_changelog.py"
    checker.write_bytes(download.content)
    key = alone / "portal-key.pem"
    key.write_bytes(client.get(reverse("audit_public_key")).content)
    done = run(checker, export_path, "--public-key", key)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("OK: ")


# --- tampering ------------------------------------------------------------------------------


def test_it_names_the_event_whose_byte_changed(tmp_path, capsys, script, log):
    path = export(tmp_path)
    key = public_key(tmp_path, capsys)
    content = lines(path)
    number = first_event_line(path, after=3)
    seq = json.loads(content[number])["seq"]
    content[number] = content[number].replace('"qa"', '"qb"', 1)
    stderr = fails(script, write(path, content), key)
    where = f"line {number + 1}"  # the auditor opens the file there
    assert f"FAILED: event #{seq} ({where}) was changed: its content does not match its digest" in (
        stderr
    )


def test_it_says_which_line_is_not_json_without_pythons_words(tmp_path, capsys, script, log):
    path = export(tmp_path)
    key = public_key(tmp_path, capsys)
    content = lines(path)
    content[4] = content[4][:40] + "\n"  # a line cut in the middle of a string
    stderr = fails(script, write(path, content), key)
    assert stderr == "FAILED: line 5 is not valid JSON from character 41 on: the file was changed\n"
    content = lines(export(tmp_path, name="again.jsonl"))
    content.insert(3, "\n")
    assert fails(script, write(path, content), key) == (
        "FAILED: line 4 is empty: the file was changed\n"
    )


def test_it_notices_a_byte_that_changes_no_value(tmp_path, capsys, script, log):
    path = export(tmp_path)
    content = lines(path)
    content[4] = content[4].replace('","', '", "', 1)  # same JSON, other bytes
    assert "line 5 is not written as the portal writes it" in fails(
        script, write(path, content), public_key(tmp_path, capsys)
    )


def test_it_names_a_missing_event(tmp_path, capsys, script, log):
    path = export(tmp_path)
    content = lines(path)
    gone = json.loads(content.pop(6))["seq"]
    assert f"event #{gone} is missing or out of place" in fails(
        script, write(path, content), public_key(tmp_path, capsys)
    )


def test_it_names_an_inserted_event(tmp_path, capsys, script, log):
    path = export(tmp_path)
    content = lines(path)
    content.insert(5, content[4])  # a copy of an event, once more
    seq = json.loads(content[4])["seq"]
    assert f"event #{seq} (line 6) is out of order or inserted: it follows event #{seq}" in fails(
        script, write(path, content), public_key(tmp_path, capsys)
    )


def test_it_names_an_inserted_event_that_was_renumbered(tmp_path, capsys, script, log):
    path = export(tmp_path)
    content = lines(path)
    forged = json.loads(content[5])
    forged["actor_name"] = "mallory"
    records = [json.loads(line) for line in content]
    # Shift everything after it by one, as a careful forger would, and slip it in.
    for item in records[5:-1]:
        item["seq"] += 1
    records.insert(5, forged)
    out = [json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records]
    stderr = fails(script, write(path, out), public_key(tmp_path, capsys))
    assert f"event #{forged['seq']} (line 6) was changed" in stderr


def test_it_names_reordered_events(tmp_path, capsys, script, log):
    path = export(tmp_path)
    content = lines(path)
    content[5], content[6] = content[6], content[5]
    expected = json.loads(content[6])["seq"]  # the event now one line too late
    where = f"event #{expected + 1} (line 6) follows"
    assert f"event #{expected} is missing or out of place: {where}" in fails(
        script, write(path, content), public_key(tmp_path, capsys)
    )


def test_it_notices_events_cut_from_the_end(tmp_path, capsys, script, log):
    path = export(tmp_path)
    key = public_key(tmp_path, capsys)
    content = lines(path)
    # Cut short: the checkpoint is gone too.
    assert "the export ends without its signed checkpoint: it was cut short after event #" in fails(
        script, write(path, content[:-3]), key
    )
    # The newest events removed, the checkpoint kept.
    last = json.loads(content[-3])["seq"]
    assert (
        f"the checkpoint signs the head at event #{json.loads(content[-1])['seq']}, but the "
        f"export ends at event #{last}: events at the end are missing"
    ) in fails(script, write(path, content[:-2] + content[-1:]), key)
    # A line cut in the middle.
    assert "is cut off" in fails(script, write(path, [*content[:-1], content[-1][:40]]), key)


def test_it_notices_events_cut_from_the_end_behind_an_older_checkpoint(
    tmp_path, capsys, script, log, project
):
    """An older export's checkpoint (signed by the portal) put after a newer export cut
    at its seq: the chain links and the checkpoint verifies, but the newer export's signed
    header names the head it was bounded by."""
    older = lines(export(tmp_path, name="older.jsonl"))
    record("item.tick", project=project, data={"after": "the older export"})
    content = lines(export(tmp_path))
    old_seq = json.loads(older[-1])["seq"]
    cut = [line for line in content[1:-1] if json.loads(line)["seq"] <= old_seq]
    stderr = fails(
        script, write(tmp_path / "cut.jsonl", [content[0], *cut, older[-1]]),
        public_key(tmp_path, capsys),
    )  # fmt: skip
    head = json.loads(content[0])["head"]["seq"]
    assert (
        f"the export's signed header names the head #{head}, but its checkpoint signs "
        f"#{old_seq}: events after #{old_seq} were cut and an older checkpoint put in place"
    ) in stderr


def _resign(path: Path, key: Ed25519PrivateKey, change: dict) -> Path:
    """What someone with the file and their own key does: change an event, rebuild every
    digest and public hash after it, and sign the header and checkpoint again."""
    records = [json.loads(line) for line in lines(path)]
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    kid = hashlib.sha256(raw).hexdigest()[:16]
    public = bytes.fromhex(records[0]["anchor"]["public_hash"])
    changed = False
    for item in records[1:-1]:
        if item["type"] == "event" and not changed and item["seq"] == change["seq"]:
            item.update(change)
            changed = True
        if item["type"] == "event":
            fields = {
                k: v for k, v in item.items() if k not in {"type", "digest", "public_hash", "hash"}
            }
            item["digest"] = hashlib.sha256(canonical_text_of(fields)).hexdigest()
        public = hashlib.sha256(public + bytes.fromhex(item["digest"])).digest()
        item["public_hash"] = public.hex()
    for doc in (records[0], records[-1]):
        if doc is records[-1]:
            doc["public_hash"] = public.hex()
        doc["key_id"] = kid
        body = {k: v for k, v in doc.items() if k != "signature"}
        signed = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        doc["signature"] = base64.b64encode(key.sign(signed.encode())).decode()
    out = [json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records]
    return write(path, out)


def canonical_text_of(fields: dict) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_it_refuses_an_export_re_signed_with_another_key(tmp_path, capsys, script, log):
    path = export(tmp_path)
    key = public_key(tmp_path, capsys)
    mallory = Ed25519PrivateKey.generate()
    forged = _resign(path, mallory, {"seq": 3, "actor_name": "mallory"})
    stderr = fails(script, forged, key)
    assert "the export's header is signed by key" in stderr
    assert "which the public key given" in stderr
    # Keeping the portal's key id does not help: the signature itself fails.
    records = [json.loads(line) for line in lines(forged)]
    real_id = json.loads(lines(export(tmp_path, name="again.jsonl"))[0])["key_id"]
    records[0]["key_id"] = real_id
    write(
        forged, [json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records]
    )
    assert "its signature does not verify with key" in fails(script, forged, key)


def test_it_refuses_a_changed_placeholder(tmp_path, capsys, script, log, project):
    path = export(tmp_path, project=project.slug)
    content = lines(path)
    number = next(i for i, line in enumerate(content) if '"type":"omitted"' in line)
    item = json.loads(content[number])
    item["digest"] = hashlib.sha256(b"something else").hexdigest()
    content[number] = json.dumps(item, separators=(",", ":")) + "\n"
    assert f"event #{item['seq']} (line {number + 1}) does not follow the chain" in fails(
        script, write(path, content), public_key(tmp_path, capsys)
    )


def test_it_names_the_event_of_a_changed_csv_cell(tmp_path, capsys, script, log):
    path = export(tmp_path, "csv")
    text = path.read_bytes().decode()
    seq = log[4].seq
    row_start = text.index(f"\r\nevent,{seq},") + 2
    row_end = text.index("\r\n", row_start)
    row = text[row_start:row_end].replace("worker w1", "worker w2", 1)
    path.write_bytes((text[:row_start] + row + text[row_end:]).encode())
    stderr = fails(script, path, public_key(tmp_path, capsys))
    assert f"event #{seq} (row {seq + 2}) was changed" in stderr  # after the header and anchor


# --- the script stands alone ----------------------------------------------------------------


def test_the_script_needs_only_python_3_9_and_cryptography():
    source = SCRIPT.read_text()
    tree = ast.parse(source, feature_version=(3, 9))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported - set(sys.stdlib_module_names) == {"cryptography"}
    # No syntax newer than 3.9 at run time either: annotations are strings, no match, no |.
    assert "from __future__ import annotations" in source
    assert not any(isinstance(node, ast.Match) for node in ast.walk(tree))


def test_it_explains_usage_errors_with_exit_2(tmp_path, capsys, script, log):
    path = export(tmp_path)
    assert run(script, path).returncode == 2  # no key
    key = public_key(tmp_path, capsys)
    missing = run(script, tmp_path / "nope.jsonl", "--public-key", key)
    assert missing.returncode == 2
    assert missing.stderr == (
        f"verify_changelog.py: cannot read {tmp_path / 'nope.jsonl'}: no such file or directory\n"
    )
    no_key = run(script, path, "--public-key", tmp_path / "nope.pem")
    assert no_key.returncode == 2
    assert "cannot read" in no_key.stderr and "[Errno" not in no_key.stderr


def test_it_says_a_key_or_checkpoint_is_the_wrong_file_in_words(tmp_path, capsys, script, log):
    path = export(tmp_path)
    key = public_key(tmp_path, capsys)
    not_a_key = run(script, path, "--public-key", path)  # the export given as the key
    assert not_a_key.returncode == 2
    assert f"{path} is not an Ed25519 public key in PEM form" in not_a_key.stderr
    assert "/audit/public-key.pem" in not_a_key.stderr
    assert "cryptography.io" not in not_a_key.stderr and "Malformed" not in not_a_key.stderr
    not_a_checkpoint = run(script, path, "--public-key", key, "--checkpoint", key)
    assert not_a_checkpoint.returncode == 2
    assert f"{key} is not a signed checkpoint" in not_a_checkpoint.stderr


def _python39() -> str | None:
    """A Python 3.9: VERIFY_CHANGELOG_PYTHON, pyenv's, or python3.9 on PATH."""
    given = os.environ.get("VERIFY_CHANGELOG_PYTHON")
    if given:
        return given
    found = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.9*/bin/python3.9")))
    return found[-1] if found else shutil.which("python3.9")


@pytest.fixture(scope="module")
def python39(tmp_path_factory) -> str:
    """An auditor's machine: Python 3.9 with nothing but cryptography installed."""
    base = _python39()
    if base is None:
        pytest.skip("no Python 3.9 on this machine (set VERIFY_CHANGELOG_PYTHON)")
    if os.environ.get("VERIFY_CHANGELOG_PYTHON"):
        return base
    venv = tmp_path_factory.mktemp("py39") / "venv"
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "cryptography"]
    done = subprocess.run(pip, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return str(venv / "bin" / "python")


def test_it_runs_on_the_oldest_python_it_supports(tmp_path, capsys, script, log, python39):
    python = python39
    key = public_key(tmp_path, capsys)
    for fmt in ("jsonl", "csv"):
        path = export(tmp_path, fmt)
        done = subprocess.run(
            [python, "-I", str(script), str(path), "--public-key", str(key)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    content = lines(path := export(tmp_path, name="changed.jsonl"))
    number = next(i for i, line in enumerate(content) if '"actor_name":"qa"' in line)
    content[number] = content[number].replace('"qa"', '"qb"', 1)
    write(path, content)
    done = subprocess.run(
        [python, "-I", str(script), str(path), "--public-key", str(key)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1 and "FAILED: event #" in done.stderr
