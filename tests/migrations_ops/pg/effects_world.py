"""A target described by hand, as read_catalog would return it, and the release's
statements settled against it: shared by the statement-effects tests."""

from __future__ import annotations

from migrations_ops.pg import release_risk
from migrations_ops.pg.apply import MigrationFile
from migrations_ops.pg.sql_names import TypeSpec
from migrations_ops.pg.target_facts import ColumnFacts, RelationFacts, TargetFacts


def facts(rows: int = 50_000) -> TargetFacts:
    """public.accounts (id, name varchar(50), balance bigint, note text) with ``rows`` rows."""
    target = TargetFacts(source="staging")
    accounts = RelationFacts("public.accounts", "table", rows, bytes=rows * 100)
    accounts.columns = {
        "id": ColumnFacts(TypeSpec("uuid"), True),
        "name": ColumnFacts(TypeSpec("varchar", (50,)), False),
        "balance": ColumnFacts(TypeSpec("int8"), False),
        "note": ColumnFacts(TypeSpec("text"), False),
        "checked": ColumnFacts(TypeSpec("text"), False, not_null_check=True),
    }
    target.relations = {
        "public.accounts": accounts,
        "public.ledger": RelationFacts("public.ledger", "table", rows),
        "public.totals": RelationFacts("public.totals", "materialized view", 10),
    }
    target.indexes = {"public.accounts_name": "public.accounts"}
    target.constraint_targets = {("public.ledger", "ledger_account_fkey"): "public.accounts"}
    target.not_valid_constraints = {("public.ledger", "ledger_account_fkey")}  # to validate
    target.other_constraints = {("public.accounts", "accounts_pkey")}
    return target


def settle(text: str, target: TargetFacts | None = None) -> list[release_risk.Resolved]:
    files = release_risk.analyse_files([MigrationFile.from_text("20240101000000_x.sql", text)])
    return release_risk.Resolver(target or facts()).resolve(files)


def codes(statement: release_risk.Resolved) -> list[str]:
    return [h.code for h in statement.hazards]
