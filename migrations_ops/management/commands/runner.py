"""Run one job body from a terminal or CI, without the portal's database or Celery.

    manage.py runner order --supabase-dir supabase --database-url "$STAGING_DATABASE_URL"
    manage.py runner dry_run --supabase-dir supabase --database-url URL --fixture roles.sql --json
    manage.py runner backup --database-url URL --out backups --json
    manage.py runner restore_check --manifest backups/X.sql.manifest.json --json
    manage.py runner risk --supabase-dir supabase --database-url URL --fixture roles.sql --json
    manage.py runner access --supabase-dir supabase --database-url URL --fixture roles.sql

Bundle content (migrations, tests, fixtures, scripts) runs in the same sandbox as the
portal's jobs, with its own PostgreSQL cluster (PORTAL_SANDBOX; --pg-major picks the
installation when there is no target). Prints the result (JSON with --json) and exits 1
when the check fails, 2 on a usage error.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from migrations_ops.jobs.kinds import COMMAND_LINE_ONLY, KINDS
from migrations_ops.pg.job_sandbox import JobSandbox, open_sandbox
from migrations_ops.pg.sandbox import SandboxError
from migrations_ops.runners import get_runner
from migrations_ops.runners.base import RunContext, RunnerError


def _option(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise CommandError(f"--option takes KEY=VALUE, not {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


class Command(BaseCommand):
    help = "Run a job body (order, dry_run, rls, backup, restore_check, ...) and print its result."

    def add_arguments(self, parser):
        parser.add_argument("kind", help=", ".join([*KINDS, *COMMAND_LINE_ONLY]))
        parser.add_argument("--supabase-dir", type=Path, help="The project's supabase/ folder.")
        parser.add_argument(
            "--repo-dir", type=Path, help="Repository root (default: the supabase dir's parent)."
        )
        parser.add_argument("--database-url", help="The target database (e.g. staging).")
        parser.add_argument("--target-name", default="target", help="Name used in messages.")
        parser.add_argument(
            "--fixture", action="append", type=Path, default=[],
            help="SQL file loaded first into every scratch database (repeatable); never "
            "into one a backup is restored into (restore_check, rehearsal).",
        )  # fmt: skip
        parser.add_argument(
            "--schema", action="append", default=[], help="Schema to inspect (repeatable)."
        )
        parser.add_argument("--out", type=Path, help="Output folder (backup).")
        parser.add_argument("--manifest", type=Path, help="Backup manifest (restore_check).")
        parser.add_argument(
            "--option", action="append", default=[], type=_option, metavar="KEY=VALUE",
            help="Runner option; VALUE is parsed as JSON when it can be.",
        )  # fmt: skip
        parser.add_argument(
            "--pg-major", type=int,
            help="PostgreSQL major version of the sandbox's cluster when there is no target "
            "(default: the target's, else the highest installed).",
        )  # fmt: skip
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def handle(self, *args, **options):
        try:
            run = get_runner(options["kind"])
        except KeyError as e:
            raise CommandError(str(e.args[0])) from None
        supabase_dir = options["supabase_dir"]
        repo_dir = options["repo_dir"] or (supabase_dir.resolve().parent if supabase_dir else None)
        extra = dict(options["option"])
        if options["out"]:
            extra["out_dir"] = str(options["out"])
        if options["manifest"]:
            extra["manifest"] = str(options["manifest"])
        as_json = options["json"]

        def log(stream: str, text: str) -> None:
            # With --json the result alone goes to stdout; progress goes to stderr.
            out = self.stderr if as_json or stream in ("stderr", "error") else self.stdout
            out.write(text)

        if options["pg_major"]:
            extra["pg_major"] = options["pg_major"]
        kind = options["kind"]
        try:
            with contextlib.ExitStack() as stack:
                sandbox: JobSandbox | None = None
                # A kind the registry does not know (a test's runner) is sandboxed too.
                if kind not in KINDS or KINDS[kind].sandbox:
                    sandbox = open_sandbox(purpose=kind)
                    stack.enter_context(sandbox)
                    if repo_dir is not None:
                        sandbox.add_content(repo_dir)
                ctx = RunContext(
                    supabase_dir=supabase_dir,
                    repo_dir=repo_dir,
                    database_url=options["database_url"],
                    target_name=options["target_name"],
                    fixtures=list(options["fixture"]),
                    schemas=options["schema"] or ["app", "public"],
                    options=extra,
                    log=log,
                    sandbox=sandbox,
                )
                result = run(ctx)
                if sandbox is not None and sandbox.cluster_started:
                    result.data.setdefault("sandbox", sandbox.describe())
        except SandboxError as e:
            raise CommandError(str(e)) from None
        except RunnerError as e:
            if as_json:
                self.stdout.write(json.dumps({"ok": False, "summary": str(e), "data": {}}))
            else:
                self.stderr.write(f"FAILED: {e}")
            sys.exit(1)
        if as_json:
            self.stdout.write(json.dumps(result.as_dict(), indent=2, default=str))
        else:
            self.stdout.write(("OK: " if result.ok else "FAILED: ") + result.summary)
        if not result.ok:
            sys.exit(1)
