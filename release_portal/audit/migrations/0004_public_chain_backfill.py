"""Give the events written before the public chain their canonical form and public hashes,
then make PostgreSQL keep every row's columns equal to its canonical form.

Those events are form 1: their canonical form is what their HMAC has always covered
(sorted compact JSON of their fields), so it is stored as it is, with ``digest`` and
``public_hash`` (see release_portal/audit/chain.py), walking the chain in seq order. Each
event's HMAC is checked on the way: a public chain must never vouch for an event that was
already changed, so a broken chain stops the migration at that event (check
AUDIT_HMAC_KEY; run ``manage.py audit_verify``; keep the database for the investigation).

Filling in new columns is the one UPDATE the change log ever gets: the append-only trigger
is disabled for it inside this migration's transaction and enabled again at its end.
"""

import hashlib
import hmac
import json
from datetime import UTC

from django.conf import settings
from django.db import migrations

BATCH = 2000
FIELDS = ("seq", "at", "actor_kind", "actor_id", "actor_name", "action", "object_type",
          "object_id", "object_repr", "project_id", "release_id", "data", "prev_hash")  # fmt: skip

# Copied from release_portal.audit.chain.CANONICAL_CHECK_SQL when this was written.
CANONICAL_CHECK_SQL = """(canonical::jsonb = (jsonb_build_object(
    'seq', seq,
    'at', to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'actor_kind', actor_kind, 'actor_id', actor_id, 'actor_name', actor_name,
    'action', action, 'object_type', object_type, 'object_id', object_id,
    'object_repr', object_repr, 'project_id', project_id, 'release_id', release_id,
    'data', data, 'prev_hash', prev_hash)
    || CASE WHEN form = 1 THEN '{}'::jsonb
            ELSE jsonb_build_object('release_repr', release_repr, 'form', form) END))"""


def canonical_form1(row: dict) -> str:
    body = {name: row[name] for name in FIELDS}
    body["at"] = row["at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _write(connection, updates: list[tuple[str, str, str, int]]) -> None:
    with connection.cursor() as cursor:
        cursor.executemany(
            "UPDATE audit_auditevent SET canonical = %s, digest = %s, public_hash = %s "
            "WHERE seq = %s",
            updates,
        )
    updates.clear()


def backfill(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_auditevent")
        if not cursor.fetchone()[0]:
            return
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
    key = settings.AUDIT_HMAC_KEY.encode()
    public = bytes(32)
    prev_hash = "0" * 64
    expected = 1
    columns = [*FIELDS, "hash"]
    updates: list[tuple[str, str, str, int]] = []
    # A server-side cursor: a long log is read in batches, never all at once.
    with connection.connection.cursor(name="audit_public_chain_backfill") as reader:
        reader.itersize = BATCH
        reader.execute(f"SELECT {', '.join(columns)} FROM audit_auditevent ORDER BY seq")  # noqa: S608
        for values in reader:
            row = dict(zip(columns, values, strict=True))
            if isinstance(row["data"], str):  # Django hands jsonb over as text
                row["data"] = json.loads(row["data"])
            canonical = canonical_form1(row)
            mac = hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()
            if (
                row["seq"] != expected
                or row["prev_hash"] != prev_hash
                or not hmac.compare_digest(mac, row["hash"])
            ):
                raise RuntimeError(
                    f"The change log does not verify at event #{expected} with this "
                    "AUDIT_HMAC_KEY, so its public chain cannot be built. Check the key; if it "
                    "is right, run `manage.py audit_verify` to see what changed, and keep the "
                    "database as it is for the investigation."
                )
            digest = hashlib.sha256(canonical.encode()).digest()
            public = hashlib.sha256(public + digest).digest()
            updates.append((canonical, digest.hex(), public.hex(), row["seq"]))
            prev_hash = row["hash"]
            expected += 1
            if len(updates) == BATCH:
                _write(connection, updates)
    _write(connection, updates)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditchainhead SET public_hash = %s WHERE id = 1 AND seq = %s",
            [public.hex(), expected - 1],
        )
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_public_chain_checkpoints_keys")]

    operations = [
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.RunSQL(
            "ALTER TABLE audit_auditevent ADD CONSTRAINT audit_canonical_matches_columns "
            f"CHECK {CANONICAL_CHECK_SQL}",
            "ALTER TABLE audit_auditevent DROP CONSTRAINT audit_canonical_matches_columns",
        ),
    ]
