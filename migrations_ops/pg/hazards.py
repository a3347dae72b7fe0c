"""Every hazard the risk analysis names, with the safer way to do the same thing.

A hazard is a statement pattern that hurts a live database: it blocks clients while it
holds a lock, rewrites or scans a whole table, breaks clients that still use an old
name, or destroys data. ``KINDS`` is the one list; ``statement_effects`` finds them in
parse trees, ``release_risk`` keeps those that apply to tables the target really has,
and ``risk_rules`` turns them into levels. ``squawk`` lists the squawk rules that find
the same thing, so a finding both tools make is cited once, with both names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The CLI runs every file in one transaction; CONCURRENTLY cannot run inside one.
OWN_FILE = (
    "in a migration file of its own, or with the project's standalone mode (Supabase CLI "
    ">= 2.109 runs such a statement outside the file's transaction), since the CLI runs "
    "each file in one transaction and CONCURRENTLY cannot run inside one"
)


@dataclass(frozen=True)
class HazardKind:
    code: str
    name: str  # a few words for tables and reasons: "CREATE INDEX without CONCURRENTLY"
    title: str
    safer: str
    squawk_rules: tuple[str, ...] = ()


KINDS: dict[str, HazardKind] = {
    k.code: k
    for k in (
        HazardKind(
            "create_index_not_concurrently",
            "CREATE INDEX without CONCURRENTLY",
            "CREATE INDEX without CONCURRENTLY holds a SHARE lock while it reads the whole "
            "table: writes wait until it is built",
            "CREATE INDEX CONCURRENTLY " + OWN_FILE,
            ("require-concurrent-index-creation",),
        ),
        HazardKind(
            "add_constraint_builds_index",
            "ADD PRIMARY KEY / UNIQUE builds an index",
            "ADD PRIMARY KEY / UNIQUE builds its index under ACCESS EXCLUSIVE: reads and "
            "writes wait until it is built",
            "CREATE UNIQUE INDEX CONCURRENTLY " + OWN_FILE + "; then ADD CONSTRAINT ... "
            "UNIQUE USING INDEX (or PRIMARY KEY USING INDEX), which only takes a brief lock",
            ("disallowed-unique-constraint",),
        ),
        HazardKind(
            "drop_index_not_concurrently",
            "DROP INDEX without CONCURRENTLY",
            "DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE on the table",
            "DROP INDEX CONCURRENTLY " + OWN_FILE,
            ("require-concurrent-index-deletion",),
        ),
        HazardKind(
            "reindex_not_concurrently",
            "REINDEX without CONCURRENTLY",
            "REINDEX without CONCURRENTLY blocks writes to the table and every read that "
            "would use the index",
            "REINDEX ... CONCURRENTLY " + OWN_FILE,
        ),
        HazardKind(
            "alter_column_type_rewrites",
            "ALTER COLUMN TYPE rewrites the table",
            "ALTER COLUMN TYPE rewrites the whole table and its indexes under ACCESS "
            "EXCLUSIVE: reads and writes wait until it is done",
            "add a new column of the new type, backfill it in batches, move readers and "
            "writers to it, then drop the old one in a later release; or pick a change "
            "PostgreSQL makes without a rewrite (varchar(n) to a larger n or to text, "
            "numeric to a larger precision)",
            ("changing-column-type",),
        ),
        HazardKind(
            "add_column_rewrites",
            "ADD COLUMN rewrites the table",
            "ADD COLUMN with a volatile default, an identity or a stored generated column "
            "rewrites the whole table under ACCESS EXCLUSIVE",
            "add the column without a default (or with a constant one), set the default "
            "for new rows, then fill existing rows in batches",
            ("adding-field-with-default", "adding-serial-primary-key-field"),
        ),
        HazardKind(
            "add_column_not_null_without_default",
            "ADD COLUMN NOT NULL without a default",
            "ADD COLUMN ... NOT NULL without a default fails on a table that has rows",
            "add the column nullable, backfill it, add CHECK (column IS NOT NULL) NOT VALID, "
            "VALIDATE it in a later file, then SET NOT NULL",
            ("adding-required-field",),
        ),
        HazardKind(
            "add_constraint_without_not_valid",
            "ADD CONSTRAINT without NOT VALID",
            "ADD CONSTRAINT (CHECK or FOREIGN KEY) without NOT VALID reads the whole table "
            "to check it while holding a lock that blocks writes (reads too for CHECK)",
            "ADD CONSTRAINT ... NOT VALID in this file, then ALTER TABLE ... VALIDATE "
            "CONSTRAINT in a later file: it checks the rows under SHARE UPDATE EXCLUSIVE, "
            "which lets reads and writes go on",
            ("constraint-missing-not-valid", "adding-foreign-key-constraint"),
        ),
        HazardKind(
            "set_not_null_scans",
            "SET NOT NULL scans the table",
            "SET NOT NULL reads the whole table under ACCESS EXCLUSIVE to check for nulls",
            "ADD CONSTRAINT c CHECK (column IS NOT NULL) NOT VALID; VALIDATE CONSTRAINT c in "
            "a later file; then SET NOT NULL uses the valid check instead of a scan "
            "(PostgreSQL 12+), and the check can be dropped",
            ("adding-not-nullable-field",),
        ),
        HazardKind(
            "rename_breaks_clients",
            "a rename breaks clients",
            "renaming breaks every client (API, app, views in other schemas) that still "
            "uses the old name, the moment the file commits",
            "expand and contract: add the new name beside the old one (a new column kept in "
            "sync, or a view with the old name), move clients, remove the old name in a "
            "later release",
            ("renaming-column", "renaming-table"),
        ),
        HazardKind(
            "drop_breaks_clients",
            "a drop breaks clients",
            "dropping breaks every client that still uses it, and its data is gone",
            "stop using it in every client and deploy that first; drop it in a later release, "
            "after a verified backup",
            ("ban-drop-column", "ban-drop-table", "ban-drop-database"),
        ),
        HazardKind(
            "truncate",
            "TRUNCATE",
            "TRUNCATE removes every row at once under ACCESS EXCLUSIVE",
            "DELETE only the rows that must go, in batches; check that the backup holds "
            "the rows first",
            ("ban-truncate-cascade",),
        ),
        HazardKind(
            "delete_without_where",
            "DELETE without WHERE",
            "DELETE without WHERE removes every row",
            "add a WHERE clause; for many rows, delete in batches by key range, each in its "
            "own transaction (a separate file or a script)",
        ),
        HazardKind(
            "update_without_where",
            "UPDATE without WHERE",
            "UPDATE without WHERE writes a new version of every row in one transaction, "
            "holding their row locks until the file commits",
            "add a WHERE clause; update in batches by key range, each in its own "
            "transaction (a separate file or a script)",
        ),
        HazardKind(
            "vacuum_full",
            "VACUUM FULL",
            "VACUUM FULL rewrites the table under ACCESS EXCLUSIVE",
            "plain VACUUM (outside a migration: it cannot run in a transaction), or "
            "pg_repack to compact the table online",
        ),
        HazardKind(
            "cluster",
            "CLUSTER",
            "CLUSTER rewrites the table under ACCESS EXCLUSIVE",
            "pg_repack --order-by to reorder the table online, or a maintenance window",
        ),
        HazardKind(
            "refresh_materialized_view_not_concurrently",
            "REFRESH MATERIALIZED VIEW without CONCURRENTLY",
            "REFRESH MATERIALIZED VIEW without CONCURRENTLY blocks every read of the view "
            "until it is rebuilt",
            "REFRESH MATERIALIZED VIEW CONCURRENTLY (the view needs a unique index): "
            "readers keep the old rows until the new ones are ready",
        ),
        HazardKind(
            "lock_held_by_later_statements",
            "strong lock held while later statements run",
            "the file keeps a strong lock taken here while its later statements run: the "
            "lock is released only when the file's transaction commits",
            "move the slow statements before the one that takes the lock, or into a file "
            "of their own, so the strong lock is held for a moment only",
        ),
        HazardKind(
            "lock_table",
            "LOCK TABLE",
            "LOCK TABLE takes the lock explicitly and holds it until the file commits",
            "drop the explicit lock, or keep the file to the statements that need it",
        ),
    )
}


@dataclass
class Hazard:
    """One hazard found in one statement."""

    code: str
    table: str | None
    detail: str = ""  # statement-specific: "on app.members (group_id, phone)"
    found_by: list[str] = field(default_factory=lambda: ["portal"])

    @property
    def kind(self) -> HazardKind:
        return KINDS[self.code]

    def as_dict(self) -> dict[str, object]:
        kind = self.kind
        message = kind.title + (f" ({self.detail})" if self.detail else "")
        return {
            "code": self.code,
            "name": kind.name,
            "table": self.table,
            "message": message,
            "safer": kind.safer,
            "found_by": list(self.found_by),
        }
