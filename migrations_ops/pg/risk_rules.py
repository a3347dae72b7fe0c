"""The risk level of a statement and of a release: low, medium or high, always explained.

Statement rules (a statement gets the highest level any rule gives it, and every rule
that fired is in its reasons):

- **high** when it destroys data on the target (``destroys`` > 0: rows of a dropped or
  truncated table, non-null values of a dropped column, values a narrowing type change
  loses, rows a DELETE removes);
- **high** when it blocks reads or writes of a *large* table (``large_rows`` rows or
  ``large_bytes`` bytes, on the target) while it rewrites or reads the whole table, or
  while a hazard that grows with the table's size runs;
- **high** when the lock it takes was held for ``long_lock_seconds`` or more on the
  scratch copy while blocking reads or writes of a table clients use;
- **medium** for any other hazard on a table that has rows (or whose size is unknown);
  for hazards that do not depend on size (renames and drops break clients; ADD COLUMN
  NOT NULL without a default fails on rows) whatever the size;
- **medium** when it may destroy data that could not be counted, when the parser could
  not read it, or when it runs procedural code (DO, CALL) that took a lock blocking
  writes on the scratch copy;
- **low** otherwise: new objects, brief locks, hazards on tables that are empty on the
  target.

The release's level is the highest of its statements'; its reasons name the statements
that set it. These levels are information for reviewers: the runners never fail on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from migrations_ops.pg.locks import LockMode
from migrations_ops.pg.sizes import size_text

LOW, MEDIUM, HIGH = "low", "medium", "high"
ORDER = {LOW: 0, MEDIUM: 1, HIGH: 2}

# Hazards whose harm grows with the table (the time a lock is held while PostgreSQL
# reads or writes every row). The others hurt whatever the size.
SIZE_DEPENDENT = frozenset(
    {
        "create_index_not_concurrently",
        "add_constraint_builds_index",
        "drop_index_not_concurrently",
        "reindex_not_concurrently",
        "alter_column_type_rewrites",
        "add_column_rewrites",
        "add_constraint_without_not_valid",
        "set_not_null_scans",
        "update_without_where",
        "vacuum_full",
        "cluster",
        "refresh_materialized_view_not_concurrently",
        "lock_held_by_later_statements",
        "lock_table",
    }
)
# Hazards that are about data, judged by the count instead (see ``destroys``).
DATA = frozenset({"truncate", "delete_without_where"})


@dataclass(frozen=True)
class Thresholds:
    large_rows: int = 100_000
    large_bytes: int = 256 * 1024 * 1024
    long_lock_seconds: float = 5.0

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> Thresholds:
        return cls(
            large_rows=int(options.get("large_table_rows", cls.large_rows)),
            large_bytes=int(options.get("large_table_bytes", cls.large_bytes)),
            long_lock_seconds=float(options.get("long_lock_seconds", cls.long_lock_seconds)),
        )


def _size(sizes: dict[str, dict[str, Any]], table: str | None) -> tuple[int | None, int | None]:
    found = sizes.get(table or "") or {}
    return found.get("rows"), found.get("bytes")


def _describe(rows: int | None, size: int | None) -> str:
    parts = []
    if rows is not None:
        parts.append(f"~{rows:,} rows")
    if size is not None:
        parts.append(size_text(size))
    return ", ".join(parts) or "size unknown"


def statement_level(statement: dict[str, Any], limits: Thresholds) -> tuple[str, list[str]]:
    """``(level, reasons)`` for one statement of the risk report (its JSON form)."""
    reasons: list[tuple[str, str]] = []
    sizes = {s["table"]: s for s in statement.get("table_sizes", [])}
    lock = LockMode.from_label(statement["lock"]) if statement.get("lock") else None
    blocking = lock is not None and (lock.blocks_reads or lock.blocks_writes)

    def large(table: str | None) -> bool:
        rows, size = _size(sizes, table)
        return (rows or 0) >= limits.large_rows or (size or 0) >= limits.large_bytes

    def empty(table: str | None) -> bool:
        rows, _ = _size(sizes, table)
        return rows == 0

    destroys = statement.get("destroys")
    if destroys:
        reasons.append((HIGH, f"destroys {destroys:,} rows or values on the target"))
    for item in statement.get("destroys_detail", []):
        if item.get("count") is None and item.get("on_target"):
            reasons.append((MEDIUM, f"may destroy {item['what']} of {item['table']} "
                                    f"(not counted: {item.get('note') or 'unknown'})"))  # fmt: skip
    heavy = statement.get("rewrites") or statement.get("scans")
    if blocking and heavy:
        for table in statement.get("rewrites_tables", []) + statement.get("scans_tables", []):
            if table in sizes and large(table):
                what = "rewrites" if table in statement.get("rewrites_tables", []) else "reads"
                reasons.append(
                    (
                        HIGH,
                        f"{what} all of {table} ({_describe(*_size(sizes, table))}) while "
                        f"holding {lock.label if lock else ''}, which blocks "
                        + ", ".join(lock.blocks[:3] if lock else []),
                    )
                )
                break
    held = statement.get("lock_held_seconds")
    if (
        blocking
        and held is not None
        and held >= limits.long_lock_seconds
        and statement.get("lock_table_on_target")
    ):
        reasons.append(
            (HIGH, f"held {lock.label if lock else ''} for {held:.1f} s on the scratch copy")
        )
    for hazard in statement.get("hazards", []):
        code, table, name = hazard["code"], hazard.get("table"), hazard.get("name", hazard["code"])
        if code in DATA:
            continue
        if code in SIZE_DEPENDENT:
            if table and large(table):
                reasons.append((HIGH, f"{name} on {table} ({_describe(*_size(sizes, table))})"))
            elif table and empty(table):
                reasons.append((LOW, f"{name}, but {table} is empty on the target"))
            else:
                shown = f" on {table} ({_describe(*_size(sizes, table))})" if table else ""
                reasons.append((MEDIUM, name + shown))
        else:
            reasons.append((MEDIUM, name + (f" ({table})" if table else "")))
    if statement.get("parse_error"):
        reasons.append((MEDIUM, "the parser could not read it: not analysed"))
    if statement.get("opaque"):
        observed = statement.get("lock_observed")
        if observed and LockMode.from_label(observed).blocks_writes:
            reasons.append(
                (
                    MEDIUM,
                    f"runs code the text does not show, which took {observed} on the scratch copy",
                )
            )
        else:
            reasons.append((LOW, "runs code the text does not show: see the locks observed"))
    if not reasons:
        if lock is not None and statement.get("tables"):
            reasons.append((LOW, f"brief {lock.label} lock, no scan or rewrite"))
        else:
            reasons.append((LOW, "touches no table clients use"))
    level = max((level for level, _ in reasons), key=ORDER.__getitem__)
    ordered = sorted(reasons, key=lambda r: -ORDER[r[0]])
    return level, [f"{lvl}: {text}" for lvl, text in ordered]


def release_level(statements: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """``(level, reasons)`` for the release: its riskiest statements, named."""
    if not statements:
        return LOW, ["no pending statements"]
    level = max((s["risk"] for s in statements), key=ORDER.__getitem__)
    counts = {lvl: sum(1 for s in statements if s["risk"] == lvl) for lvl in (HIGH, MEDIUM, LOW)}
    reasons = [
        f"{counts[HIGH]} high, {counts[MEDIUM]} medium and {counts[LOW]} low-risk statement(s); "
        "the release takes the level of its riskiest one"
    ]
    for statement in statements:
        if statement["risk"] == level and level != LOW:
            first = statement["risk_reasons"][0].split(": ", 1)[-1]
            reasons.append(f"{statement['file']} line {statement['line']}: {first}")
    return level, reasons[:11]
