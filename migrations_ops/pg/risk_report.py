"""The risk report: one JSON object per pending statement, and the release's level.

``build`` joins what the text says (``release_risk.Resolved``), what the target holds
(``target_facts``: sizes, loss counts), what the scratch copy showed (``lock_recorder``:
the locks PostgreSQL granted and how long they were held) and what squawk found, then
applies ``risk_rules``. Every statement object has at least ``file``, ``line``,
``tables``, ``lock``, ``rewrites``, ``destroys`` and ``hazards``.

``lock`` is the strongest of the predicted lock and the lock observed on the scratch
copy (``lock_source`` says which): a prediction can miss a lock the text does not show
(a trigger, a function's body), and an observation cannot see a lock the file already
held from an earlier statement. ``also_locks`` says the locks on the statement's other
tables in words (and why, for a table it does not name: the table a foreign key
references...); ``lock_notes`` the locks the facts could not settle.

Functions at the bottom read a stored result (the ``data`` of the risk job) for the
release page, the report and the API: ``hazards_first``, ``loss_ledger``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from migrations_ops.pg import risk_rules
from migrations_ops.pg.hazards import KINDS, Hazard
from migrations_ops.pg.lock_recorder import LockRecorder, StatementObservation
from migrations_ops.pg.locks import LockMode
from migrations_ops.pg.release_risk import Resolved
from migrations_ops.pg.squawk import SquawkFinding
from migrations_ops.pg.target_facts import LossCount, TargetFacts

MEASURED = "measured on the scratch copy"
_SQL_SHOWN = 400


def build(
    resolved: Sequence[Resolved],
    *,
    facts: TargetFacts,
    counts: dict[int, LossCount],
    recorder: LockRecorder | None = None,
    squawk: Sequence[SquawkFinding] = (),
    thresholds: risk_rules.Thresholds | None = None,
    hold_warn_seconds: float = 1.0,
    copy_rows: str = "",
) -> dict[str, Any]:
    """``{"level", "reasons", "statements": [...], "data_loss": [...]}``.

    ``counts`` maps ``id(CountRequest)`` to its LossCount; ``copy_rows`` says what rows the
    scratch copy held ("" when it held the target's rows), for the measured times.
    """
    limits = thresholds or risk_rules.Thresholds()
    last = {item.file: item.effect.index for item in resolved}
    statements = []
    for item in resolved:
        observed = recorder.observation(item.file, item.effect.index) if recorder else None
        # Only statements followed by others in their file can keep a lock for them.
        warn = hold_warn_seconds if item.effect.index < last[item.file] else None
        statement = _statement(item, facts, counts, observed, warn, copy_rows)
        _second_opinion(statement, item, squawk)
        statement["risk"], statement["risk_reasons"] = risk_rules.statement_level(statement, limits)
        statements.append(statement)
    level, reasons = risk_rules.release_level(statements)
    return {
        "level": level,
        "reasons": reasons,
        "statements": statements,
        "data_loss": loss_ledger({"statements": statements}),
        "hazards": sum(len(s["hazards"]) for s in statements),
    }


def _statement(
    item: Resolved,
    facts: TargetFacts,
    counts: dict[int, LossCount],
    observed: StatementObservation | None,
    hold_warn_seconds: float | None,
    copy_rows: str,
) -> dict[str, Any]:
    effect = item.effect
    predicted = item.lock
    seen = observed.strongest if observed else None
    lock = max([m for m in (predicted, seen) if m is not None], default=None)
    if lock is None:
        source = None
    elif predicted == seen:
        source = "predicted and " + MEASURED.replace("measured", "observed")
    elif lock == predicted:
        source = "predicted" + (" (the file already held it)" if observed else "")
    else:
        source = MEASURED.replace("measured", "observed") + " (not predicted from the text)"
    locks = {t: m for t, m in item.locks.items()}
    for table, mode in (observed.locks if observed else {}).items():
        if mode > locks.get(table, LockMode.ACCESS_SHARE - 1):
            locks[table] = mode
    lock_table = max(locks.items(), key=lambda kv: kv[1])[0] if locks else None
    sizes = []
    for table in item.on_target:
        relation = facts.relation(table)
        if relation is not None:
            sizes.append({"table": table, "rows": relation.rows, "bytes": relation.bytes})
    destroys_detail = []
    total: int | None = None
    for request in item.counts:
        counted = counts.get(id(request))
        loss = request.loss
        entry: dict[str, Any] = {
            "kind": loss.kind,
            "table": f"{request.relation.schema}.{request.relation.name}",
            "column": loss.column,
            "what": loss.unit,
            "on_target": True,
            "count": counted.count if counted else None,
            "method": counted.method if counted else "not_counted",
            "note": counted.note if counted else "not counted",
            "sample_percent": counted.sample_percent if counted else None,
        }
        if (
            loss.kind == "delete_rows"
            and effect.command == "DELETE"  # a MERGE's rows are its updates and inserts too
            and entry["count"] is None
            and observed is not None
            and observed.rows is not None
        ):
            entry["count_on_scratch"] = observed.rows
            entry["note"] = (
                (entry["note"] or "") + f"; the DELETE removed {observed.rows:,} "
                "row(s) on the scratch copy" + (f" ({copy_rows})" if copy_rows else "")
            )
        destroys_detail.append(entry)
        if entry["count"] is not None:
            total = (total or 0) + entry["count"]
    hazards = list(item.hazards)
    held = observed.held_seconds if observed else None
    statement: dict[str, Any] = {
        "file": item.file,
        "line": effect.line,
        "statement": effect.index + 1,
        "command": effect.command,
        "does": "; ".join(effect.does),
        "sql": effect.text[:_SQL_SHOWN] + ("..." if len(effect.text) > _SQL_SHOWN else ""),
        "parse_error": effect.parse_error,
        "opaque": effect.opaque,
        "tables": item.tables,
        "lock": lock.label if lock else None,
        "lock_table": lock_table,
        "lock_table_on_target": lock_table in item.on_target if lock_table else False,
        "lock_source": source,
        "lock_predicted": predicted.label if predicted else None,
        "lock_observed": seen.label if seen else None,
        "locks": {t: m.label for t, m in sorted(locks.items())},
        "blocks": lock.blocks if lock else [],
        "also_locks": [
            lock_line(t, m, item.lock_why.get(t))
            for t, m in sorted(locks.items())
            if t != lock_table
        ],
        "lock_notes": list(item.lock_notes),
        "rewrites": bool(item.rewrites),
        "rewrites_tables": sorted(item.rewrites),
        "rewrites_why": [f"{t}: {why}" for t, why in sorted(item.rewrites.items())],
        "scans": bool(item.scans or item.rewrites),
        "scans_tables": sorted(item.scans),
        "scans_why": [f"{t}: {why}" for t, why in sorted(item.scans.items())],
        "table_sizes": sizes,
        "destroys": total,
        "destroys_detail": destroys_detail,
        "seconds_on_scratch": round(observed.seconds, 4) if observed else None,
        "lock_held_seconds": round(held, 4) if held is not None else None,
        "measured": (MEASURED + (f" ({copy_rows})" if copy_rows else "")) if observed else None,
        "cannot_run_in_transaction": effect.no_transaction,
    }
    if (
        observed is not None
        and hold_warn_seconds is not None
        and held is not None
        and lock is not None
        and lock.blocks_writes
        and held - observed.seconds >= hold_warn_seconds
        and statement["lock_table_on_target"]
    ):
        detail = (
            f"{MEASURED}: {lock.label} on {lock_table} held {held:.2f} s, "
            f"{held - observed.seconds:.2f} s of it after the statement finished"
        )
        existing = next((h for h in hazards if h.code == "lock_held_by_later_statements"), None)
        if existing:
            existing.detail += f"; {detail}"
        else:
            hazards.append(Hazard("lock_held_by_later_statements", lock_table, detail))
    statement["hazards"] = [h.as_dict() for h in hazards]
    return statement


def lock_line(table: str, mode: LockMode, why: str | None = None) -> str:
    """One lock in words: "ROW SHARE on public.parent (the table child_parent_fk
    references): blocks only ACCESS EXCLUSIVE and EXCLUSIVE locks; reads and writes go on"."""
    where = f"{mode.label} on {table}" + (f" ({why})" if why else "")
    if mode.blocks_reads or mode.blocks_writes:
        return f"{where}: blocks {', '.join(mode.blocks)}"
    conflicts = [other.label for other in reversed(LockMode) if mode.conflicts_with(other)]
    blocked = " and ".join(conflicts) + " locks" if len(conflicts) <= 2 else ", ".join(mode.blocks)
    return f"{where}: blocks only {blocked}; reads and writes go on"


def _second_opinion(
    statement: dict[str, Any], item: Resolved, findings: Sequence[SquawkFinding]
) -> None:
    """Squawk's findings for this statement: cited on the hazard they confirm, else listed."""
    mine = [f for f in findings if f.file == item.file and f.statement_index == item.effect.index]
    others = []
    for finding in mine:
        confirmed = False
        for hazard in statement["hazards"]:
            if finding.rule in KINDS[hazard["code"]].squawk_rules:
                cite = f"squawk:{finding.rule}"
                if cite not in hazard["found_by"]:
                    hazard["found_by"].append(cite)
                confirmed = True
        if not confirmed:
            others.append(finding.as_dict())
    statement["second_opinion"] = others


# --- reading a stored result ------------------------------------------------------------


def hazards_first(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The statements of a stored risk result, riskiest and most hazardous first."""
    order = risk_rules.ORDER
    return sorted(
        data.get("statements", []),
        key=lambda s: (-order.get(s.get("risk", "low"), 0), -len(s.get("hazards", [])),
                       s.get("file", ""), s.get("line", 0)),
    )  # fmt: skip


def loss_ledger(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every loss of a stored risk result: file, line, table, column, what, count, how."""
    ledger = []
    for statement in data.get("statements", []):
        for item in statement.get("destroys_detail", []):
            ledger.append(
                {
                    "file": statement["file"],
                    "line": statement["line"],
                    "command": statement.get("command"),
                    **{k: item.get(k) for k in ("table", "column", "what", "count", "method",
                                                "note", "sample_percent")},
                }
            )  # fmt: skip
    return ledger


def markdown(data: dict[str, Any]) -> str:
    """The risk result as a Markdown section (report, evidence pack): hazards first."""
    lines = [f"**Release risk: {data.get('level', 'unknown')}**", ""]
    lines += [f"- {reason}" for reason in data.get("reasons", [])]
    lines += ["", "| risk | file:line | does | lock | blocks | rows | hazards |",
              "|---|---|---|---|---|---:|---|"]  # fmt: skip
    for s in hazards_first(data):
        rows = ", ".join(f"{t['rows']:,}" for t in s.get("table_sizes", []) if t.get("rows"))
        hazards = "; ".join(h["name"] for h in s.get("hazards", [])) or "-"
        blocks = ", ".join(b.split(" (")[0] for b in s.get("blocks", [])[:3]) or "-"
        does = s.get("does", "").replace("|", "\\|")
        lock = s.get("lock") or "-"
        others = [f"{m} on {t}" for t, m in s.get("locks", {}).items() if t != s.get("lock_table")]
        lock += f"; also {', '.join(others)}" if others else ""
        lines.append(
            f"| {s.get('risk')} | {s['file']}:{s['line']} | {does} | {lock} "
            f"| {blocks} | {rows or '-'} | {hazards} |"
        )
    ledger = data.get("data_loss", [])
    if ledger:
        lines += ["", "Data loss:", ""]
        for item in ledger:
            count = f"{item['count']:,}" if item.get("count") is not None else "not counted"
            column = f".{item['column']}" if item.get("column") else ""
            lines.append(
                f"- {item['file']}:{item['line']} {item['table']}{column}: {count} {item['what']}"
                + (f" ({item['note']})" if item.get("note") else "")
            )
    return "\n".join(lines) + "\n"
