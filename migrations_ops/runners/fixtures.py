"""Job ``fixtures``: "Ensure RLS fixtures (supabase/tests/fixtures/*) match expected policies".

Promise: runs only in a scratch database, dropped afterwards whatever happens; no
target is touched.

Applies every local migration to a scratch database (after the project's fixtures),
reads the policies (``pg_policies``) and RLS flags it ends up with for ``ctx.schemas``,
and compares them with what the tests and fixtures under ``supabase/tests`` mention
(table and policy names found in their text):

- tables with RLS enabled that no test or fixture mentions (their policies are
  untested);
- tables in exposed schemas (``options["exposed_schemas"]``, default ``["public"]``, the
  schema PostgREST serves) with RLS disabled: anyone with the anon key can read them;
- policies no test or fixture mentions by name (a warning; they fail the check only with
  ``options["strict_policies"]``);
- schema-qualified names the tests mention that the migrations do not create (a
  warning: a fixture may point at something renamed or dropped).

"Mentions" is a text match, deliberately simple: it tells a reviewer where to look,
not whether the policy is right.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psycopg

from migrations_ops.pg import catalog, scratch_setup
from migrations_ops.pg.apply import apply_files
from migrations_ops.runners.base import RunContext, RunnerError, RunResult

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_$]*")
_MAX_FILE_BYTES = 2 * 1024 * 1024
_MAX_UNKNOWN = 200  # names the tests mention that the schema lacks, listed at most


def read_corpus(tests_dir: Path) -> tuple[str, list[str]]:
    """All text under ``tests_dir`` (lower-cased) and the files it came from."""
    if not tests_dir.is_dir():
        raise RunnerError(f"no tests folder at {tests_dir}: RLS tests and fixtures live there")
    texts, names = [], []
    for path in sorted(tests_dir.rglob("*")):
        if path.is_file() and path.stat().st_size <= _MAX_FILE_BYTES:
            texts.append(path.read_text(errors="replace").lower())
            names.append(path.relative_to(tests_dir).as_posix())
    return "\n".join(texts), names


def run(ctx: RunContext) -> RunResult:
    if ctx.supabase_dir is None:
        raise RunnerError("no supabase folder given: the fixtures job reads supabase/tests")
    tests_dir = ctx.supabase_dir / ctx.options.get("tests_dir", "tests")
    corpus, files = read_corpus(tests_dir)
    migrations = scratch_setup.local_migrations(ctx.supabase_dir)
    with ctx.scratch_database("fixtures") as url:
        scratch_setup.load_project_fixtures(ctx, url)
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            applied = apply_files(
                conn, migrations, log=ctx.log, stop_on_error=False, checkpoint=ctx.check_cancelled
            )
            schema = catalog.snapshot(conn, schemas=ctx.schemas)
    data = compare(
        schema,
        corpus,
        exposed=list(ctx.options.get("exposed_schemas", ["public"])),
    )
    strict = bool(ctx.options.get("strict_policies", False))
    notes = []
    if not applied.ok:
        notes.append(
            f"{len(applied.failures)} migration(s) could not be applied (first: "
            f"{applied.failures[0].describe()}); the comparison covers what could be applied"
        )
    data |= {
        "notes": notes,
        "test_files": files,
        "migrations": applied.as_dict(),
        "seconds": ctx.seconds(),
    }
    problems = []
    if data["tables_with_rls_without_tests"]:
        problems.append(
            f"{len(data['tables_with_rls_without_tests'])} table(s) with RLS and no test ("
            + ", ".join(data["tables_with_rls_without_tests"][:5])
            + ")"
        )
    if data["exposed_tables_without_rls"]:
        problems.append(
            f"{len(data['exposed_tables_without_rls'])} exposed table(s) without RLS ("
            + ", ".join(data["exposed_tables_without_rls"][:5])
            + ")"
        )
    if strict and data["policies_not_mentioned"]:
        problems.append(f"{len(data['policies_not_mentioned'])} policy(ies) no test mentions")
    if not applied.ok:
        problems.append(f"{len(applied.failures)} migration(s) could not be applied")
    if problems:
        return RunResult(ok=False, summary="; ".join(problems), data=data)
    summary = (
        f"fixtures match: {len(data['tables_with_rls'])} table(s) with RLS, all mentioned by "
        f"tests; {len(data['policies'])} polic(ies), {len(data['policies_not_mentioned'])} "
        "not mentioned by name"
    )
    return RunResult(ok=True, summary=summary, data=data)


def compare(schema: catalog.Snapshot, corpus: str, *, exposed: list[str]) -> dict[str, Any]:
    """What the schema has that the tests' text does not mention (and the reverse).

    The text is bundle content, up to the upload's limits: its words are matched one at a
    time and only those that matter are kept (every word of it, listed, took twenty
    times the text's size in the worker's memory)."""
    tables = schema["tables"]
    with_rls = sorted(name for name, t in tables.items() if t["rls"])
    wanted = {name.split(".", 1)[1].lower() for name in with_rls}
    words = {m.group() for m in _IDENTIFIER.finditer(corpus) if m.group() in wanted}
    policies = schema["policies"]
    known = set(tables) | set(schema["views"]) | set(schema["types"]) | set(schema["indexes"])
    known |= {name.split("(", 1)[0] for name in schema["functions"]}
    referenced: set[str] = set()
    for name in schema.schemas:
        pattern = re.compile(rf"\b{re.escape(name.lower())}\.([a-z_][a-z0-9_$]*)\b")
        for found in pattern.finditer(corpus):
            ref = f"{name}.{found.group(1)}"
            if ref not in known and len(referenced) < _MAX_UNKNOWN:
                referenced.add(ref)
    return {
        "tables_with_rls": with_rls,
        "policies": sorted(policies),
        "tables_with_rls_without_tests": [
            name for name in with_rls if name.split(".", 1)[1].lower() not in words
        ],
        "exposed_tables_without_rls": schema.tables_without_rls(exposed),
        "policies_not_mentioned": sorted(
            key for key, policy in policies.items() if _policy_name(key, policy) not in corpus
        ),
        "references_unknown": sorted(r for r in referenced if r not in known),
    }


def _policy_name(key: str, policy: dict[str, Any]) -> str:
    return key[len(policy["table"]) + 1 :].lower()
