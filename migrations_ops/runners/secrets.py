"""Runbook §3: "Verify secrets (SUPABASE_ACCESS_TOKEN, SUPABASE_STAGING_PROJECT_REF, backups
credentials) are present in GitHub."

Reports which required names are set. Promises: **no value ever leaves this module**: not in
the result, the log, or an exception message; only names and counts do.

Options:

- ``required``: the names to look for (a list, or one comma-separated string). Default: the
  runbook's ``SUPABASE_ACCESS_TOKEN`` and ``SUPABASE_STAGING_PROJECT_REF``, plus the backup
  credentials the runbook's §5.1 dump command reads, ``SUPABASE_PROJECT_REF`` and
  ``PROD_DATABASE_URL``.
- ``environment``: what CI reported as set: a dict (name → value, or name → true/false)
  or a list of names. Without it, the worker's own environment is read.

A name counts as missing when it is absent, or set to an empty (or blank) string, or
reported as false/null: an empty secret in GitHub is the usual copy-paste mistake, and the
tools that read it treat it as unset. A list of names cannot say whether a value is empty;
each listed name counts as set.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from migrations_ops.runners.base import RunContext, RunnerError, RunResult

DEFAULT_REQUIRED = [
    "SUPABASE_ACCESS_TOKEN",
    "SUPABASE_STAGING_PROJECT_REF",
    "SUPABASE_PROJECT_REF",
    "PROD_DATABASE_URL",
]
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _required_names(option: Any) -> list[str]:
    if option is None:
        return list(DEFAULT_REQUIRED)
    names = option.split(",") if isinstance(option, str) else option
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise RunnerError(
            "the secrets check's 'required' option must be a list of variable names "
            '(e.g. ["SUPABASE_ACCESS_TOKEN"]) or a comma-separated string'
        )
    cleaned = [n.strip() for n in names if n.strip()]
    bad = [i for i, n in enumerate(cleaned, 1) if not _NAME.match(n)]
    if bad:
        # Not echoed: an entry that is no name may be a value pasted by mistake.
        raise RunnerError(
            f"entries {', '.join(map(str, bad))} of the secrets check's 'required' option are "
            "not environment variable names: use letters, digits and underscores"
        )
    if not cleaned:
        raise RunnerError("the secrets check has no required names: list at least one")
    return list(dict.fromkeys(cleaned))


def _is_set(value: Any) -> bool:
    if value is None or value is False:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    return True


def _reported(environment: Any) -> tuple[str, dict[str, bool]]:
    """(source, name → set?) without keeping a single value."""
    if environment is None:
        return "worker environment", {k: _is_set(v) for k, v in os.environ.items()}
    if isinstance(environment, Mapping):
        return "reported environment", {str(k): _is_set(v) for k, v in environment.items()}
    if isinstance(environment, list | tuple) and all(isinstance(n, str) for n in environment):
        return "reported names", {n.strip(): True for n in environment}
    raise RunnerError(
        "the secrets check's 'environment' option must be a dict of name → value (or "
        "true/false) or a list of names, as reported by CI"
    )


def run(ctx: RunContext) -> RunResult:
    """Which required secret names are set; never a value."""
    required = _required_names(ctx.options.get("required"))
    source, reported = _reported(ctx.options.get("environment"))
    present = [n for n in required if reported.get(n)]
    empty = [n for n in required if n in reported and not reported[n]]
    absent = [n for n in required if n not in reported]
    missing = [n for n in required if not reported.get(n)]
    for name in required:
        state = "set" if name in present else ("empty" if name in empty else "missing")
        ctx.log("info" if state == "set" else "error", f"{name}: {state}")
    data = {
        "source": source,
        "required": required,
        "present": present,
        "missing": missing,
        "empty": empty,
        "absent": absent,
    }
    if missing:
        detail = ", ".join(f"{n} (empty)" if n in empty else n for n in missing)
        summary = (
            f"{len(missing)} of {len(required)} required secrets missing in the {source}: "
            f"{detail}; add them (repository secrets in GitHub, or the worker's environment)"
        )
    else:
        summary = f"all {len(required)} required secrets are set in the {source}"
    return RunResult(ok=not missing, summary=summary, data=data)
