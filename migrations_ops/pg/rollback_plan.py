"""The §5.2 rollback path for one release on one target, worked out from facts (pure).

Given the target's migration history, the release's migration files with their down
scripts, and a verified backup to fall back on, ``build_plan`` returns:

- the last good version: the newest applied version that is not one of the release's;
- steps, in order: the down script of each applied release migration, newest first, or,
  at the first one without a down script, ONE restore from the backup, which replaces
  every step after it (the backup predates them all);
- for each step, what it loses (``DROP TABLE``/``DROP COLUMN``/``TRUNCATE``/``DELETE`` in a
  down script destroy data; a restore loses every write since the backup was taken);
- the commands a person would run by hand, with tools that exist: psql for the down
  script, then ``supabase migration repair --status reverted <version>`` (``supabase
  migration down`` has no ``--to`` and resets the whole database), and psql/pg_restore
  for a restore (or the Supabase dashboard restore of the logged snapshot).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from migrations_ops.pg.sqlsplit import (
    is_transaction_control,
    split_statements,
    strip_leading_comments,
)

DB_URL = '"$DB_URL"'


@dataclass(frozen=True)
class ReleaseMigration:
    version: str
    filename: str
    down_filename: str = ""
    down_sql: str = ""

    @property
    def has_down(self) -> bool:
        return bool(self.down_sql.strip())


@dataclass(frozen=True)
class BackupChoice:
    """A verified backup the plan may restore: where it is and what it held."""

    id: int
    file_name: str
    format: str
    finished_at: datetime
    applied_versions: tuple[str, ...]
    schemas: tuple[str, ...]
    fetch_command: str = ""  # e.g. "aws s3 cp s3://bucket/key file" when not on this disk
    file_path: str = ""  # the path to restore from, as a person would type it
    snapshot_ref: str = ""


@dataclass
class Plan:
    target_name: str
    url_env_var: str
    applied_versions: list[str]
    release_versions: list[str]
    last_good_version: str | None
    target_version: str | None
    undo_versions: list[str] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # why it cannot be saved
    backup_id: int | None = None

    @property
    def preamble(self) -> str:
        return f'export DB_URL="${self.url_env_var}"  # {self.target_name}\'s database URL'

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target_name,
            "url_env_var": self.url_env_var,
            "applied_versions": self.applied_versions,
            "release_versions": self.release_versions,
            "last_good_version": self.last_good_version,
            "target_version": self.target_version,
            "undo_versions": self.undo_versions,
            "steps": self.steps,
            "warnings": self.warnings,
            "problems": self.problems,
            "backup_id": self.backup_id,
            "preamble": self.preamble,
        }


# --- what a down script destroys ----------------------------------------------------------

_NAME = r'(?:"[^"]+"|[A-Za-z_][\w$]*)(?:\.(?:"[^"]+"|[A-Za-z_][\w$]*))?'
_END = r"(?:\s+(?:CASCADE|RESTRICT))?$"
_DROP_TABLE = re.compile(r"^DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(.+?)" + _END, re.I | re.S)
_DROP_SCHEMA = re.compile(r"^DROP\s+SCHEMA\s+(?:IF\s+EXISTS\s+)?(.+?)\s+CASCADE$", re.I | re.S)
_TRUNCATE = re.compile(
    r"^TRUNCATE\s+(?:TABLE\s+)?(.+?)(?:\s+(?:RESTART|CONTINUE)\s+IDENTITY)?" + _END, re.I | re.S
)
_DELETE = re.compile(rf"^DELETE\s+FROM\s+(?:ONLY\s+)?({_NAME})", re.I)
_ALTER_TABLE = re.compile(
    rf"^ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?({_NAME})\s+(.*)$", re.I | re.S
)
_DROP_COLUMN = re.compile(rf"(?:^|,)\s*DROP\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?({_NAME})", re.I)
_NOT_COLUMNS = {"constraint", "default", "not", "expression", "identity"}


def _names(text: str) -> list[str]:
    return [n.strip().replace('"', "") for n in text.split(",") if n.strip()]


def data_losses(sql: str) -> list[str]:
    """What running ``sql`` destroys: ``["table app.members", "column app.members.phone"]``."""
    losses: list[str] = []

    def add(what: str) -> None:
        if what not in losses:
            losses.append(what)

    for statement in split_statements(sql):
        text = strip_leading_comments(statement.text)
        if m := _DROP_TABLE.match(text):
            for name in _names(m.group(1)):
                add(f"table {name}")
        elif m := _DROP_SCHEMA.match(text):
            for name in _names(m.group(1)):
                add(f"every table in schema {name}")
        elif m := _TRUNCATE.match(text):
            for name in _names(m.group(1).removeprefix("ONLY ").removeprefix("only ")):
                add(f"table {name} (all rows)")
        elif m := _DELETE.match(text):
            add(f"table {m.group(1).replace(chr(34), '')} (deleted rows)")
        elif m := _ALTER_TABLE.match(text):
            table = m.group(1).replace('"', "")
            for column in _DROP_COLUMN.findall(m.group(2)):
                if column.lower() not in _NOT_COLUMNS:
                    add(f"column {table}.{column.replace(chr(34), '')}")
    return losses


def losses_text(losses: Sequence[str]) -> str:
    if not losses:
        return "loses no data (schema objects only)"
    return "destroys data in " + ", ".join(losses)


# --- commands a person runs ---------------------------------------------------------------


def repair_command(versions: Sequence[str]) -> str:
    return f"supabase migration repair --status reverted {' '.join(versions)} --db-url {DB_URL}"


def down_commands(path: str, version: str, sql: str) -> list[str]:
    # One transaction per script, unless the script manages its own (then as written).
    own = any(is_transaction_control(s.text) for s in split_statements(sql))
    single = "" if own else " --single-transaction"
    return [
        f"psql {DB_URL} -v ON_ERROR_STOP=1{single} -f {shlex.quote(path)}",
        repair_command([version]),
    ]


def drop_schemas_sql(schemas: Sequence[str]) -> str:
    quoted = ", ".join('"' + s.replace('"', '""') + '"' for s in schemas)
    return f"DROP SCHEMA IF EXISTS {quoted} CASCADE"


def restore_commands(backup: BackupChoice, versions: Sequence[str]) -> list[str]:
    commands = [backup.fetch_command] if backup.fetch_command else []
    path = shlex.quote(backup.file_path or backup.file_name)
    drop = shlex.quote(drop_schemas_sql(backup.schemas))
    psql = f"psql {DB_URL} -v ON_ERROR_STOP=1 --single-transaction -c {drop}"
    if backup.format == "custom":
        commands.append(f"pg_restore --file=- {path} | {psql} -f -")
    else:
        commands.append(f"{psql} -f {path}")
    if versions:
        commands.append(repair_command(versions))
    return commands


# --- the plan -----------------------------------------------------------------------------


def suitable_backups(backups: Sequence[BackupChoice], undo: Sequence[str]) -> list[BackupChoice]:
    """Backups taken before any of ``undo`` was applied, newest first."""
    unwanted = set(undo)
    fitting = [b for b in backups if not unwanted & set(b.applied_versions)]
    return sorted(fitting, key=lambda b: b.finished_at, reverse=True)


def build_plan(
    *,
    target_name: str,
    url_env_var: str,
    applied_versions: Sequence[str],
    release_migrations: Sequence[ReleaseMigration],
    rollbacks_dir: str,
    backup: BackupChoice | None,
) -> Plan:
    """The rollback plan; ``plan.problems`` says why it cannot be run as it stands."""
    applied = sorted(set(applied_versions))
    by_version = {m.version: m for m in release_migrations}
    ours = set(by_version)
    # Every migration of the release, newest first: those applied now, and those the
    # deployment will apply. The runbook prepares the rollback *before* production apply;
    # at run time the rollback job skips steps whose version is not applied.
    undo = sorted(ours, reverse=True)
    others = [v for v in applied if v not in ours]
    plan = Plan(
        target_name=target_name,
        url_env_var=url_env_var,
        applied_versions=applied,
        release_versions=sorted(ours),
        last_good_version=others[-1] if others else None,
        target_version=applied[-1] if applied else None,
        undo_versions=undo,
        backup_id=backup.id if backup else None,
    )
    if not undo:
        plan.warnings.append("the release has no migrations: there is nothing to roll back")
        return plan
    pending = [v for v in undo if v not in applied]
    if pending and len(pending) == len(undo):
        plan.warnings.append(
            f"prepared before deployment: {target_name} has none of the release's "
            f"{len(undo)} migration(s) yet; the rollback undoes those that are applied when "
            "it runs"
        )
    newer = [v for v in others if v > min(undo)]
    if newer:
        plan.warnings.append(
            f"{target_name} has migrations from elsewhere newer than this release's: "
            f"{', '.join(newer)}. Rolling back underneath them may break them: check first."
        )
    folder = rollbacks_dir.strip("/") or "supabase/rollbacks"
    for position, version in enumerate(undo):
        migration = by_version[version]
        if migration.has_down:
            path = f"{folder}/{migration.down_filename}"
            losses = data_losses(migration.down_sql)
            plan.steps.append(
                {
                    "kind": "down",
                    "version": version,
                    "migration": migration.filename,
                    "file": migration.down_filename,
                    "path": path,
                    "sql": migration.down_sql,
                    "loses": losses,
                    "loses_text": losses_text(losses),
                    "reverts": [version],
                    "commands": down_commands(path, version, migration.down_sql),
                }
            )
            continue
        remaining = undo[position:]
        plan.steps.append(_restore_step(plan, migration, remaining, backup))
        break
    return plan


def _restore_step(
    plan: Plan, migration: ReleaseMigration, remaining: list[str], backup: BackupChoice | None
) -> dict[str, Any]:
    why = f"{migration.filename} has no down script"
    if backup is None:
        plan.problems.append(
            f"{why} and there is no verified backup of {plan.target_name} from before this "
            "release: capture a backup and let its restore check pass, then plan again"
        )
        return {
            "kind": "restore", "backup_id": None, "reason": why, "reverts": remaining,
            "loses": ["everything written since the backup"],
            "loses_text": "writes since the backup are lost", "commands": [],
        }  # fmt: skip
    taken = backup.finished_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    step: dict[str, Any] = {
        "kind": "restore",
        "backup_id": backup.id,
        "reason": why,
        "file": backup.file_name,
        "format": backup.format,
        "schemas": list(backup.schemas),
        "backup_time": backup.finished_at.isoformat(),
        "reverts": remaining,
        "loses": [f"writes since {taken}"],
        "loses_text": f"writes since {taken} are lost (backup {backup.file_name})",
        "commands": restore_commands(backup, remaining),
    }
    if backup.snapshot_ref:
        step["alternative"] = (
            f"Or restore the Supabase dashboard backup {backup.snapshot_ref} (Database → "
            "Backups → Restore): it replaces the whole database, its migration history "
            "included, with everything else written since."
        )
    return step
