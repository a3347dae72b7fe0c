"""scripts/verify_changelog.py on files people and tools changed, and on history since an
older checkpoint: what was done to a file said in words; a log that only grew proven, one
rewritten in the database since caught by a checkpoint kept outside.

The script runs as a separate Python, alone in a folder, as in test_verify_changelog.py.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from django.core.management.base import CommandError
from django.db import connection

from release_portal.audit import checkpoints
from release_portal.audit.chain import canonical_text
from release_portal.audit.checkpoints import checkpoint_sign
from release_portal.audit.models import AuditEvent
from tests.audit.conftest import disable_append_only_trigger, record
from tests.audit.offline import export, fails, public_key, run, said_as_time

# --- proving growth since an older checkpoint -----------------------------------------------


def _edits(header: str, event: str) -> list[tuple[str, str, str]]:
    """What editors, spreadsheets and forgers do to a file: (format, change, words)."""
    return [
        ("jsonl", "bom", "starts with a byte order mark"),
        ("csv", "bom", "starts with a byte order mark"),
        ("jsonl", "crlf", "line 1 ends in CR LF"),
        ("csv", "lf", "row 1 ends in a bare line feed"),
        ("csv", "latin-1", "is not UTF-8 text"),
        ("jsonl", "garbage", "or something was appended"),
        ("jsonl", "upper-hex", f"{event} is not 64 lowercase hexadecimal digits"),
        ("csv", "spaced-data", "row 3 is not written as the portal writes it"),
        ("csv", "padded-seq", "row 3 is not written as the portal writes it"),
        ("csv", "quote-mark", "row 3 is not written as the portal writes it"),
        ("jsonl", "bad-keys", f"{header} does not have the shape the portal writes"),
        ("jsonl", "bad-seq", "the checkpoint does not have the shape the portal writes"),
    ]


def _edit(data: bytes, change: str) -> bytes:
    rest = data.split(b"\n", 1)[1]
    if change == "bom":
        return b"\xef\xbb\xbf" + data
    if change == "crlf":
        return data.replace(b"\n", b"\r\n")
    if change == "lf":
        return data.replace(b"\r\n", b"\n")
    if change == "latin-1":
        return data.replace("é".encode(), "é".encode("latin-1"), 1)
    if change == "garbage":
        return data + b"PS: nothing to see"
    if change == "upper-hex":
        event = json.loads(rest.split(b"\n", 1)[0])
        return data.replace(event["digest"].encode(), event["digest"].upper().encode(), 1)
    if change == "spaced-data":  # the same JSON in the data cell, other bytes
        return data.replace(b'{""big"":', b'{ ""big"":', 1)
    if change == "padded-seq":
        return data.replace(b"\r\nevent,1,", b"\r\nevent,01,", 1)
    if change == "quote-mark":  # a leading ' the portal adds only before a formula sign
        return data.replace(b"\r\nevent,1,", b"\r\nevent,'1,", 1)
    records = [json.loads(line) for line in data.splitlines()]
    if change == "bad-keys":  # keys are read before the header's signature is checked
        records[0]["keys"] = [{"rotation": {"new_public_key": 7}}, {"key_id": "x"}]
    else:
        records[-1]["seq"] = "twelve"
    return "".join(
        json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records
    ).encode()


@pytest.mark.parametrize(
    "fmt, change, words", _edits("the export's header", "event #1's digest (line 2)")
)
def test_it_says_what_was_done_to_the_file_in_words(
    tmp_path, capsys, script, log, fmt, change, words
):
    """Re-saved by an editor, opened in a spreadsheet, or changed in a way no value
    shows: exit 1 with the reason, never a Python traceback or a wrong one ("cut short")."""
    path = export(tmp_path, fmt)
    path.write_bytes(_edit(path.read_bytes(), change))
    stderr = fails(script, path, public_key(tmp_path, capsys))
    assert stderr.startswith("FAILED: ") and "Traceback" not in stderr, stderr
    assert words in stderr


def test_it_says_a_web_page_saved_instead_of_the_export_is_not_an_export(
    tmp_path, capsys, script, log
):
    """What a download without signing in saves: the sign-in page."""
    page = tmp_path / "audit.jsonl"
    page.write_text("<!DOCTYPE html>\n<html><title>Sign in</title></html>\n")
    stderr = fails(script, page, public_key(tmp_path, capsys))
    assert "this is not a change-log export (JSON Lines, CSV or an evidence pack)" in stderr
    assert "it starts with '<!DOCTYPE html>'" in stderr
    assert "a web page" in stderr


def test_it_proves_the_log_only_grew_since_an_older_checkpoint(
    tmp_path, capsys, script, log, project
):
    old = tmp_path / "old-checkpoint.json"
    old.write_text(json.dumps(checkpoint_sign(reason="manual").document))
    for i in range(3):
        record("item.tick", project=project, data={"later": i})
    path = export(tmp_path)
    done = run(script, path, "--public-key", public_key(tmp_path, capsys), "--checkpoint", old)
    assert done.returncode == 0, done.stderr
    signed_at = said_as_time(json.loads(old.read_text())["at"])
    assert f"the log only grew since the checkpoint of {signed_at}" in done.stdout


def test_it_catches_history_rewritten_in_the_database_since_a_checkpoint(
    tmp_path, capsys, script, log, monkeypatch
):
    old = tmp_path / "old-checkpoint.json"
    old.write_text(json.dumps(checkpoint_sign(reason="manual").document))
    # Someone with database access rewrites event 2 and rebuilds the public chain. The
    # portal checks the HMACs before it signs and refuses...
    rebuild_from(2, actor_name="mallory")
    with pytest.raises(CommandError, match="event #2 was changed after it was written"):
        export(tmp_path)
    # ...but a portal that signed it anyway (before it checked, or with the check removed)
    # is still caught by a checkpoint kept outside.
    monkeypatch.setattr(checkpoints, "checked_before_locking", lambda: 0)
    monkeypatch.setattr(checkpoints, "_refuse_rewritten_chain", lambda *args: None)
    path = export(tmp_path)
    key = public_key(tmp_path, capsys)
    assert run(script, path, "--public-key", key).returncode == 0  # consistent on its own...
    stderr = fails(script, path, key, "--checkpoint", old)  # ...but not with what was signed
    assert "the log did not only grow: event #" in stderr


def rebuild_from(seq: int, **change) -> None:
    disable_append_only_trigger()
    public = (
        bytes.fromhex(AuditEvent.objects.get(seq=seq - 1).public_hash) if seq > 1 else bytes(32)
    )
    with connection.cursor() as cursor:
        for event in AuditEvent.objects.filter(seq__gte=seq).order_by("seq"):
            fields = {f.attname: getattr(event, f.attname) for f in AuditEvent._meta.fields}
            if event.seq == seq:
                fields.update(change)
                for column, value in change.items():
                    sql = f"UPDATE audit_auditevent SET {column} = %s WHERE seq = %s"  # noqa: S608
                    cursor.execute(sql, [value, seq])
            canonical = canonical_text(fields, form=event.form)
            digest = hashlib.sha256(canonical.encode()).digest()
            public = hashlib.sha256(public + digest).digest()
            cursor.execute(
                "UPDATE audit_auditevent SET canonical = %s, digest = %s, public_hash = %s "
                "WHERE seq = %s",
                [canonical, digest.hex(), public.hex(), event.seq],
            )
        cursor.execute("UPDATE audit_auditchainhead SET public_hash = %s", [public.hex()])


def test_it_asks_for_an_earlier_export_when_the_checkpoint_is_before_it(
    tmp_path, capsys, script, project, other_project
):
    record("item.tick", project=other_project)
    old = tmp_path / "old-checkpoint.json"
    old.write_text(json.dumps(checkpoint_sign(reason="manual").document))
    record("item.tick", project=other_project)
    record("item.tick", project=project)
    path = export(tmp_path, project=project.slug)  # starts at the project's first event
    stderr = fails(script, path, public_key(tmp_path, capsys), "--checkpoint", old)
    seq = json.loads(old.read_text())["seq"]
    assert f"this export starts after event #{seq} (the old checkpoint's)" in stderr
    # The whole log covers it.
    whole = export(tmp_path, name="whole.jsonl")
    assert (
        run(
            script, whole, "--public-key", public_key(tmp_path, capsys), "--checkpoint", old
        ).returncode
        == 0
    )


def test_it_refuses_an_old_checkpoint_newer_than_the_export(tmp_path, capsys, script, log):
    path = export(tmp_path)
    record("item.tick", project=log[1].project_id)
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps(checkpoint_sign(reason="manual").document))
    stderr = fails(script, path, public_key(tmp_path, capsys), "--checkpoint", newer)
    assert "after this export's head" in stderr
