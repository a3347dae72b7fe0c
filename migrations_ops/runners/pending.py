"""Runbook §3: "Review Supabase dashboard for pending or failed migrations."

Reads the target's ``supabase_migrations.schema_migrations`` (the table behind the
dashboard's migration list and ``supabase migration list``) and the local files, and
reports, never writing anything:

- ``remote_only``: versions applied on the target with no local file (drift: applied from
  the dashboard, another branch, or a file deleted after it ran). **Fails.**
- ``changed``: applied versions whose recorded ``statements`` differ from the local file
  (the file was edited after it ran, or the version was applied by hand with other SQL).
  Compared as normalised text, see ``statements_digest``. **Fails.**
- ``pending``: local files not applied yet, each marked when it is older than the newest
  applied version (``supabase migration up`` needs ``--include-all`` for those). Listed:
  a release's own new files are pending by design.
- ``not_recorded``: applied versions whose row holds no statements (``migration repair``,
  rows inserted by hand); their text cannot be checked. Listed as warnings.

"Failed" migrations leave no trace in the history: the CLI runs a file's statements and its
history insert as one implicit transaction, so a file that failed shows here as pending.

Needs ``ctx.database_url``; a target that is down fails within 10 s with "could not connect
to <target> (host:port): reason".
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from migrations_ops.pg import supabase_files as sf
from migrations_ops.pg.sqlsplit import split_statements
from migrations_ops.runners.base import RunContext, RunnerError, RunResult, no_url
from migrations_ops.runners.order import load_local_migrations, load_target_history

_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")


def file_statements(sql_text: str) -> list[str]:
    """The statements the CLI records for this file text (``parser.SplitAndTrim``)."""
    return [statement.text for statement in split_statements(sql_text)]


def normalised_sql(text: str) -> str:
    """``text`` without comments, with ``;`` and whitespace runs outside quotes as one space.

    Quoted strings, quoted identifiers and dollar-quoted bodies are kept verbatim. Used only
    to compare two texts of the same migration, so a rare mis-read (E'' escapes) affects
    both sides alike.
    """
    out: list[str] = []
    i, n = 0, len(text)

    def space() -> None:
        if out and out[-1] != " ":
            out.append(" ")

    while i < n:
        c = text[i]
        if text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            space()
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
            space()
        elif c in "'\"":
            end = text.find(c, i + 1)
            end = n if end < 0 else end + 1
            out.append(text[i:end])
            i = end
        elif c == "$" and (match := _DOLLAR_TAG.match(text, i)) and not _in_word(text, i):
            tag = match.group(0)
            end = text.find(tag, match.end())
            end = n if end < 0 else end + len(tag)
            out.append(text[i:end])
            i = end
        elif c == ";" or c.isspace():
            space()
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out).strip()


def _in_word(text: str, i: int) -> bool:
    # `a$b$` is an identifier, not a dollar quote.
    return i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")


def statements_digest(statements: list[str] | tuple[str, ...]) -> str:
    """sha256 of the normalised statements joined, comparable across recorded and file text."""
    joined = "\n".join(statements)
    return hashlib.sha256(normalised_sql(joined).encode()).hexdigest()


def _changed(
    ctx: RunContext, comparison: sf.HistoryComparison
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    changed: list[dict[str, Any]] = []
    not_recorded: list[dict[str, Any]] = []
    for local, remote in comparison.applied:
        ctx.check_cancelled()
        if not remote.statements:
            not_recorded.append({"version": remote.version, "filename": local.filename})
            continue
        try:
            text = local.path.read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            raise RunnerError(f"could not read {local.path}: {e.strerror or e}") from None
        recorded = statements_digest(remote.statements)
        ours = statements_digest(file_statements(text))
        if recorded != ours:
            changed.append(
                {
                    "version": remote.version,
                    "filename": local.filename,
                    "recorded_statements": len(remote.statements),
                    "recorded_sha256": recorded,
                    "file_sha256": ours,
                    "message": (
                        f"{local.filename} differs from what {ctx.target_name} recorded when "
                        "it was applied: the file was edited afterwards (or the version was "
                        "applied by hand). Restore the applied text and put the change in a "
                        "new migration"
                    ),
                }
            )
    return changed, not_recorded


def _summary(ctx: RunContext, data: dict[str, Any]) -> str:
    counts = (
        f"{ctx.target_name}: {len(data['applied'])} applied, {len(data['pending'])} pending, "
        f"{len(data['remote_only'])} applied without a local file, "
        f"{len(data['changed'])} changed since applied"
    )
    problems = [r["version"] for r in data["remote_only"]] + [
        c["filename"] for c in data["changed"]
    ]
    if problems:
        return f"{counts}: {', '.join(problems[:5])}" + (" ..." if len(problems) > 5 else "")
    if data["not_recorded"]:
        counts += f" ({len(data['not_recorded'])} applied without recorded statements)"
    return counts


def run(ctx: RunContext) -> RunResult:
    """List pending, drifted and changed migrations on the target; never writes to it."""
    if not ctx.database_url:
        raise RunnerError(
            f"{no_url(ctx.target_name, ctx.url_variable)} (the pending check reads the "
            "target's migration history)"
        )
    _, files, skipped = load_local_migrations(ctx)
    ctx.check_cancelled()
    history = load_target_history(ctx)
    ctx.info(f"{ctx.target_name}: {len(history)} versions in {sf.HISTORY_TABLE}")
    comparison = sf.compare(files, history)
    changed, not_recorded = _changed(ctx, comparison)

    older = {f.filename for f in comparison.pending_older_than_newest_applied}
    pending = [
        {**f.as_dict(), "older_than_newest_applied": f.filename in older}
        for f in sorted(
            comparison.pending_older_than_newest_applied + comparison.pending,
            key=lambda f: f.filename,
        )
    ]
    data: dict[str, Any] = {
        "target": ctx.target_name,
        "newest_applied": comparison.newest_applied,
        "applied": [{"version": r.version, "filename": f.filename} for f, r in comparison.applied],
        "pending": pending,
        "remote_only": [r.as_dict() for r in comparison.remote_only],
        "changed": changed,
        "not_recorded": not_recorded,
        "skipped": [s.as_dict() for s in skipped],
    }
    for remote in comparison.remote_only:
        ctx.error(
            f"{remote.version} ({remote.name or 'no name'}) is applied on {ctx.target_name} but "
            "has no local file: restore it from git, or supabase migration repair --status "
            f"reverted {remote.version} if it was rolled back"
        )
    for item in changed:
        ctx.error(item["message"])
    for item in pending:
        note = " (older than the newest applied: needs --include-all)"
        ctx.info(
            f"pending: {item['filename']}" + (note if item["older_than_newest_applied"] else "")
        )
    ok = not comparison.remote_only and not changed
    return RunResult(ok=ok, summary=_summary(ctx, data), data=data)
