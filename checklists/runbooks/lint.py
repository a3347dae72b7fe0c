"""Runbook lint: the commands a runbook names, checked against the real Supabase CLI.

Commands come from the markdown token stream (inline code and fenced shell blocks), so
prose that merely mentions a word is never linted. Each finding says how bad it is,
where it is, what is wrong, and what to run instead; the CLI facts and the files they
come from are in ``checklists.runbooks.supabase_cli``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from checklists.runbooks import supabase_cli as cli
from checklists.runbooks.commands import Mention, find_commands, split_commands

ERROR, WARNING, INFO = "error", "warning", "info"
SEVERITY_ORDER = {ERROR: 0, WARNING: 1, INFO: 2}
_RUNNERS = (("npx",), ("bunx",), ("pnpm", "dlx"), ("pnpm", "exec"), ("yarn",))


@dataclass
class Finding:
    code: str
    severity: str
    line: int
    command: str
    problem: str
    suggestion: str
    reference: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "line": self.line,
            "command": self.command,
            "problem": self.problem,
            "suggestion": self.suggestion,
            "reference": self.reference,
        }


@dataclass
class LintResult:
    findings: list[Finding] = field(default_factory=list)
    cli_version: str = cli.CLI_VERSION
    commands_checked: int = 0

    def as_list(self) -> list[dict[str, Any]]:
        return [f.as_dict() for f in self.findings]


# --- checking supabase commands -----------------------------------------------------------


@dataclass
class Invocation:
    command: cli.Command
    flags: dict[str, str | None]  # flag name → value (None for booleans)
    unknown: list[str]


def _strip_runner(argv: list[str]) -> list[str]:
    for prefix in _RUNNERS:
        if tuple(argv[: len(prefix)]) == prefix and len(argv) > len(prefix):
            return argv[len(prefix) :]
    return argv


def _resolve(args: list[str]) -> tuple[cli.Command | None, list[str], list[str]]:
    """(command, its remaining args, the words that named it) for ``supabase <args>``."""
    words = [a for a in args if not a.startswith("-")]
    if not words:
        return None, [], []
    top = cli.GROUPS.get(words[0], words[0])
    if top in {"migration", "db"}:
        if len(words) < 2:
            return None, [], [words[0]]
        command = cli.COMMANDS.get((top, words[1]))
        named = [words[0], words[1]]
    else:
        command = cli.COMMANDS.get((top,))
        named = [words[0]]
    if command is None:
        return None, [], named
    rest = list(args)
    for word in named:
        rest.remove(word)
    return command, rest, named


def _parse_flags(command: cli.Command, args: list[str]) -> Invocation:
    flags: dict[str, str | None] = {}
    unknown: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--" or not arg.startswith("-"):
            continue
        if arg.startswith("--"):
            name, _, value = arg[2:].partition("=")
            spec = command.by_name.get(name) or cli.GLOBAL_FLAGS.by_name.get(name)
        else:
            name, value = arg[1:2], arg[2:].lstrip("=")
            spec = command.by_short.get(name) or cli.GLOBAL_FLAGS.by_short.get(name)
        if spec is None:
            unknown.append(arg.split("=")[0])
            continue
        if spec.takes_value and not value and i < len(args):
            value = args[i]
            i += 1
        flags[spec.name] = value or None
    return Invocation(command, flags, unknown)


def _remote(inv: Invocation) -> bool:
    return "linked" in inv.flags or "db-url" in inv.flags


REPAIR = "supabase migration repair --status reverted <version> --linked"


def _semantic(inv: Invocation, m: Mention, shown: str) -> tuple[list[Finding], set[str]]:
    """Findings about what a valid-looking command really does; flags they explain."""
    path, found, handled = inv.command.path, [], set()
    ref = cli.source_ref(inv.command.source)
    if path == ("migration", "up") and "--dry-run" in inv.unknown:
        handled.add("--dry-run")
        also = (
            " Without it the command is `supabase migration up --linked`, which applies the "
            "pending migrations to the linked project for real."
            if "linked" in inv.flags
            else ""
        )
        found.append(
            Finding(
                "migration-up-no-dry-run",
                ERROR,
                m.line,
                shown,
                "`supabase migration up` has no `--dry-run` flag (its flags are "
                f"{inv.command.flag_names()}): the CLI stops with “unknown flag: --dry-run”, so "
                "this step validates nothing." + also,
                "Use `supabase db push --linked --include-all --dry-run`, which only lists the "
                "migrations that would be applied. To see whether they actually apply, run the "
                "portal's dry-run job: it applies them to a scratch copy of staging's schema.",
                ref,
            )
        )
    if path == ("migration", "down"):
        handled.add("--to")
        wrong = (
            "has no `--to` flag (its flags are --last N, default 1, --db-url, --linked, --local); "
            if "--to" in inv.unknown
            else ""
        )
        where = "the linked (remote) project" if _remote(inv) else "the local database"
        as_rollback = "rollback" in f"{m.section} {m.context}".lower()
        if not (_remote(inv) or wrong or as_rollback):
            return found, handled  # resetting a local database is what it is for
        found.append(
            Finding(
                "migration-down-destroys-data",
                ERROR if _remote(inv) or wrong else WARNING,
                m.line,
                shown,
                f"`supabase migration down` {wrong}it does not run down scripts: it drops every "
                "user schema and re-applies the migrations up to the N-th last version, and "
                "its own prompt warns “you will lose all data in this database” "
                f"(internal/migration/down/down.go). Here it would do that to {where}.",
                "Never use it as a rollback on staging or production. Run the migration's down "
                "script (supabase/rollbacks/<version>_*.sql) in one transaction, then record "
                f"it with `{REPAIR}`; if there is no down script, restore the pre-migration "
                "backup (dashboard restore or the portal's verified pg_dump).",
                ref,
            )
        )
    if path == ("db", "reset") and _remote(inv):
        found.append(
            Finding(
                "db-reset-remote",
                ERROR,
                m.line,
                shown,
                "`supabase db reset` on --linked/--db-url drops every user-created object in "
                "the remote database and re-applies migrations: all data is lost.",
                "Use down scripts plus `supabase migration repair`, or restore a backup.",
                ref,
            )
        )
    if path == ("db", "dump"):
        if "--project-ref" in inv.unknown:
            handled.add("--project-ref")
            found.append(
                Finding(
                    "db-dump-no-project-ref",
                    ERROR,
                    m.line,
                    shown,
                    "`supabase db dump` has no `--project-ref` flag (its flags are "
                    f"{inv.command.flag_names()}): the CLI stops with “unknown flag: "
                    "--project-ref” and nothing is dumped.",
                    'Name the database with `--db-url "$PROD_DATABASE_URL"`, or run '
                    "`supabase link --project-ref <ref>` once and use `--linked`.",
                    ref,
                )
            )
        if "data-only" not in inv.flags and "role-only" not in inv.flags:
            backup = "backup" in (m.section + " " + m.text).lower()
            found.append(
                Finding(
                    "db-dump-schema-only",
                    ERROR if backup else INFO,
                    m.line,
                    shown,
                    "Without `--data-only`, `supabase db dump` writes the schema only: no rows "
                    "(cmd/db.go; the CLI reference: “the default dump does not contain any data "
                    "or custom roles”)."
                    + (
                        " This backup holds no data: restoring it gives empty tables."
                        if backup
                        else ""
                    ),
                    "Keep the dashboard backup as the restore point and dump both parts: "
                    '`supabase db dump --db-url "$PROD_DATABASE_URL" -s app,public -f '
                    'schema.sql` and `supabase db dump --db-url "$PROD_DATABASE_URL" '
                    "--data-only -s app,public -f data.sql`, or let the portal's backup job "
                    "pg_dump the schemas with their data and verify a restore.",
                    ref,
                )
            )
    return found, handled


def lint_supabase(argv: list[str], m: Mention) -> list[Finding]:
    shown = m.text
    command, rest, named = _resolve(argv)
    if command is None:
        top = cli.GROUPS.get(named[0], named[0]) if named else ""
        if not named or (top not in {"migration", "db"} and top in cli.OTHER_TOP_LEVEL):
            return []
        return [
            Finding(
                "unknown-command",
                WARNING,
                m.line,
                shown,
                f"`supabase {' '.join(named)}` is not a command of the Supabase CLI "
                f"({cli.CLI_VERSION}).",
                "Check `supabase --help` for the command you meant.",
                cli.source_ref("apps/cli-go/cmd/"),
            )
        ]
    inv = _parse_flags(command, rest)
    found, handled = _semantic(inv, m, shown)
    for flag in inv.unknown:
        if flag not in handled:
            found.append(
                Finding(
                    "unknown-flag",
                    ERROR,
                    m.line,
                    shown,
                    f"`{command.name}` has no `{flag}` flag; the CLI stops with “unknown flag”. "
                    f"Its flags are: {command.flag_names()}.",
                    "Remove the flag or use one the command has.",
                    cli.source_ref(command.source),
                )
            )
    for group in command.exclusive:
        used = [f for f in group if f in inv.flags]
        if len(used) > 1:
            found.append(
                Finding(
                    "exclusive-flags",
                    ERROR,
                    m.line,
                    shown,
                    f"`{command.name}` refuses {', '.join('--' + f for f in used)} together.",
                    f"Keep one of {', '.join('--' + f for f in group)}.",
                    cli.source_ref(command.source),
                )
            )
    return found


def lint_pnpm(argv: list[str], m: Mention, check_commands: list[list[str]] | None) -> list:
    if check_commands is None or "--filter" in argv or len(argv) < 2:
        return []
    wanted = argv if argv[1] == "run" else ["pnpm", "run", *argv[1:]]
    allowed = [list(c) for c in check_commands]
    if wanted in allowed or argv in allowed:
        return []
    return [
        Finding(
            "not-a-check-command",
            INFO,
            m.line,
            " ".join(argv),
            "The portal's commands job runs only the project's check commands, and this is "
            "not one of them: ticking this step will need other evidence.",
            "Add it to the project's check commands in Settings, or leave it to CI.",
        )
    ]


def lint_runbook(source: str, *, check_commands: list[list[str]] | None = None) -> LintResult:
    """Check every command the runbook names. ``check_commands``: the project's allow-list."""
    result = LintResult()
    for mention in find_commands(source):
        for argv in split_commands(mention.text):
            argv = _strip_runner(argv)
            if argv[:2] == ["migration", "down"]:  # "`migration down` or restore path"
                argv = ["supabase", *argv]
            if argv[0] == "supabase":
                result.commands_checked += 1
                result.findings.extend(lint_supabase(argv[1:], mention))
            elif argv[0] == "pnpm":
                result.commands_checked += 1
                result.findings.extend(lint_pnpm(argv, mention, check_commands))
    result.findings.sort(key=lambda f: (SEVERITY_ORDER[f.severity], f.line))
    return result


def counts(findings: list[dict[str, Any]]) -> dict[str, int]:
    out = {ERROR: 0, WARNING: 0, INFO: 0}
    for f in findings:
        out[f.get("severity", INFO)] = out.get(f.get("severity", INFO), 0) + 1
    return out
