"""The Supabase CLI's commands and flags, as the runbook lint checks them.

Transcribed from the CLI's cobra definitions in github.com/supabase/cli at commit
8c792b5954c23ee2f44f05ccdf71ff2b7d61fd4e (the Go CLI lives in ``apps/cli-go/``):

- ``apps/cli-go/cmd/migration.go``: migration list/new/repair/squash/up/down/fetch
- ``apps/cli-go/cmd/db.go``: db diff/dump/push/pull/reset/lint/start/query/advisors
- ``apps/cli-go/cmd/start.go``: start
- ``apps/cli-go/cmd/root.go``: the persistent (global) flags
- ``internal/migration/down/down.go`` (commit fc7b1e7e): what ``migration down`` does —
  ``DropUserSchemas`` then ``MigrateAndSeed`` up to the N-th last version, after a prompt
  that warns "you will lose all data in this database".

Only the commands a migration runbook names are checked flag by flag; other top-level
commands are known by name so they are not reported as unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CLI_VERSION = "supabase/cli@8c792b59"
CLI_COMMIT = "8c792b5954c23ee2f44f05ccdf71ff2b7d61fd4e"
CLI_REPO = "github.com/supabase/cli"


@dataclass(frozen=True)
class Flag:
    name: str
    short: str = ""
    takes_value: bool = False


@dataclass(frozen=True)
class Command:
    path: tuple[str, ...]
    source: str
    flags: tuple[Flag, ...] = ()
    # Groups cobra marks with MarkFlagsMutuallyExclusive.
    exclusive: tuple[tuple[str, ...], ...] = ()
    summary: str = ""
    by_name: dict[str, Flag] = field(default_factory=dict, compare=False)
    by_short: dict[str, Flag] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for f in self.flags:
            self.by_name[f.name] = f
            if f.short:
                self.by_short[f.short] = f

    @property
    def name(self) -> str:
        return "supabase " + " ".join(self.path)

    def flag_names(self) -> str:
        return ", ".join(f"--{f.name}" for f in self.flags) or "no flags"


def _v(name: str, short: str = "") -> Flag:
    return Flag(name, short, takes_value=True)


def _b(name: str, short: str = "") -> Flag:
    return Flag(name, short, takes_value=False)


MIGRATION_GO = "apps/cli-go/cmd/migration.go"
DB_GO = "apps/cli-go/cmd/db.go"
TARGET = ("db-url", "linked", "local")

GLOBAL_FLAGS = Command(
    path=(),
    source="apps/cli-go/cmd/root.go",
    flags=(
        _b("yes"),
        _b("debug"),
        _v("workdir"),
        _b("experimental"),
        _v("network-id"),
        _v("profile"),
        _v("output", "o"),
        _v("dns-resolver"),
        _b("create-ticket"),
        _v("agent"),
        _b("help", "h"),
    ),
)

COMMANDS: dict[tuple[str, ...], Command] = {
    c.path: c
    for c in [
        Command(
            ("migration", "list"),
            MIGRATION_GO,
            (_v("db-url"), _b("linked"), _b("local"), _v("password", "p")),
            (TARGET, ("db-url", "password")),
            "List local and remote migrations",
        ),
        Command(("migration", "new"), MIGRATION_GO, (), (), "Create an empty migration script"),
        Command(
            ("migration", "repair"),
            MIGRATION_GO,
            (_v("status"), _v("db-url"), _b("linked"), _b("local"), _v("password", "p")),
            (TARGET, ("db-url", "password")),
            "Repair the migration history table (--status applied|reverted, required)",
        ),
        Command(
            ("migration", "squash"),
            MIGRATION_GO,
            (_v("version"), _v("db-url"), _b("linked"), _b("local"), _v("password", "p")),
            (TARGET, ("db-url", "password")),
            "Squash migrations to a single file",
        ),
        Command(
            ("migration", "up"),
            MIGRATION_GO,
            (_b("include-all"), _v("db-url"), _b("linked"), _b("local")),
            (TARGET,),
            "Apply pending migrations (to the local database unless --linked or --db-url)",
        ),
        Command(
            ("migration", "down"),
            MIGRATION_GO,
            (_v("last"), _v("db-url"), _b("linked"), _b("local")),
            (TARGET,),
            "Resets applied migrations up to the last n versions",
        ),
        Command(
            ("migration", "fetch"),
            MIGRATION_GO,
            (_v("db-url"), _b("linked"), _b("local")),
            (TARGET,),
            "Fetch migration files from history table",
        ),
        Command(
            ("db", "push"),
            DB_GO,
            (
                _b("include-all"),
                _b("include-roles"),
                _b("include-seed"),
                _b("dry-run"),
                _v("db-url"),
                _b("linked"),
                _b("local"),
                _v("password", "p"),
            ),
            (TARGET,),
            "Push new migrations to the remote database",
        ),
        Command(
            ("db", "dump"),
            DB_GO,
            (
                _b("dry-run"),
                _b("data-only"),
                _b("use-copy"),
                _v("exclude", "x"),
                _b("role-only"),
                _b("keep-comments"),
                _v("file", "f"),
                _v("db-url"),
                _b("linked"),
                _b("local"),
                _v("password", "p"),
                _v("schema", "s"),
            ),
            (
                ("role-only", "data-only"),
                ("keep-comments", "data-only"),
                TARGET,
                ("schema", "role-only"),
            ),
            "Dumps data or schemas from the remote database",
        ),
        Command(
            ("db", "reset"),
            DB_GO,
            (
                _v("db-url"),
                _b("linked"),
                _b("local"),
                _b("no-seed"),
                _v("version"),
                _v("last"),
            ),
            (TARGET, ("version", "last")),
            "Resets the local database to current migrations",
        ),
        Command(
            ("db", "diff"),
            DB_GO,
            (
                _b("use-migra"),
                _b("use-pgadmin"),
                _b("use-pg-schema"),
                _b("use-pg-delta"),
                _v("from"),
                _v("to"),
                _v("output", "o"),
                _v("db-url"),
                _b("linked"),
                _b("local"),
                _v("file", "f"),
                _v("schema", "s"),
            ),
            (("use-migra", "use-pgadmin", "use-pg-schema", "use-pg-delta"), TARGET),
            "Diffs the local database for schema changes",
        ),
        Command(
            ("db", "pull"),
            DB_GO,
            (
                _b("use-pg-delta"),
                _v("diff-engine"),
                _v("schema", "s"),
                _v("db-url"),
                _b("linked"),
                _b("local"),
                _v("password", "p"),
            ),
            (TARGET, ("use-pg-delta", "diff-engine")),
            "Pull schema from the remote database",
        ),
        Command(
            ("db", "lint"),
            DB_GO,
            (
                _v("db-url"),
                _b("linked"),
                _b("local"),
                _v("schema", "s"),
                _v("level"),
                _v("fail-on"),
            ),
            (TARGET,),
            "Checks local database for typing error",
        ),
        Command(("db", "start"), DB_GO, (_v("from-backup"),), (), "Starts local Postgres database"),
        Command(
            ("db", "query"),
            DB_GO,
            (_v("db-url"), _b("linked"), _b("local"), _v("file", "f"), _v("output", "o")),
            (TARGET,),
            "Execute a SQL query against the database",
        ),
        Command(
            ("db", "advisors"),
            DB_GO,
            (
                _v("db-url"),
                _b("linked"),
                _b("local"),
                _v("type"),
                _v("level"),
                _v("fail-on"),
            ),
            (TARGET,),
            "Checks database for security and performance issues",
        ),
        Command(
            ("start",),
            "apps/cli-go/cmd/start.go",
            (_v("exclude", "x"), _b("ignore-health-check"), _b("preview")),
            (),
            "Start containers for Supabase local development",
        ),
    ]
}

# Commands with subcommands the table checks; aliases as cobra declares them.
GROUPS = {"migration": "migration", "migrations": "migration", "db": "db"}
# Other top-level commands of the CLI: known by name, their flags are not checked.
OTHER_TOP_LEVEL = frozenset({
    "backups", "bans", "bootstrap", "branches", "completion", "config", "domains",
    "encryption", "functions", "gen", "help", "init", "inspect", "link", "login", "logout",
    "network-bans", "network-restrictions", "orgs", "postgres-config", "projects", "secrets",
    "seed", "services", "snippets", "ssl-enforcement", "sso", "status", "stop", "storage",
    "test", "unlink", "vanity-subdomains",
})  # fmt: skip


def source_ref(path: str) -> str:
    return f"{CLI_REPO} {path} @ {CLI_COMMIT[:8]}"
