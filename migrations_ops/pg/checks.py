"""``manage.py check``: can bundle content run here, in the mode in force?

- ``PORTAL_SANDBOX=bwrap``: bwrap, setpriv and prlimit installed, a user namespace can be
  made, the uid is not 0, an initdb is installed; pgTAP is found for the RLS tests;
  SCRATCH_DATABASE_URL, if set, is ignored (a warning says so).
- ``PORTAL_SANDBOX=off``: the operator accepted it, and SCRATCH_DATABASE_URL names a
  dedicated, unprivileged server (checked with a connection).

Warnings, not errors: the portal still serves its pages; the jobs that would run bundle
content are refused with the same message.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Warning as CheckWarning
from django.core.checks import register

from migrations_ops.pg import installations
from migrations_ops.pg.job_folder import SandboxConfig
from migrations_ops.pg.sandbox_host import prerequisite_problems


@register("sandbox")
def check_sandbox(app_configs: Any = None, **kwargs: Any) -> list[CheckWarning]:
    config = SandboxConfig.from_settings()
    found: list[CheckWarning] = []
    if config.mode == "bwrap":
        for problem in prerequisite_problems(config):
            found.append(
                CheckWarning(
                    f"The sandbox cannot run: {problem}.",
                    hint="Install bubblewrap (apt-get install bubblewrap) and allow user "
                    "namespaces; until then dry runs, RLS tests, fixtures, restore checks, "
                    "rehearsals and check commands are refused.",
                    id="sandbox.W001",
                )
            )
        if settings.SCRATCH_DATABASE_URL:
            found.append(
                CheckWarning(
                    "SCRATCH_DATABASE_URL is set but ignored: with PORTAL_SANDBOX=bwrap every "
                    "scratch database is made in the job's own sandboxed cluster.",
                    hint="Unset SCRATCH_DATABASE_URL.",
                    id="sandbox.W002",
                )
            )
        if not installations.pgtap_sources() and not any(
            installations.has_extension(i, "pgtap") for i in installations.installations()
        ):
            found.append(
                CheckWarning(
                    "pgTAP is not installed: RLS tests that call pgTAP functions will fail.",
                    hint="apt-get install postgresql-<N>-pgtap",
                    id="sandbox.W003",
                )
            )
        return found
    if not settings.PORTAL_ACCEPT_UNSANDBOXED:
        found.append(
            CheckWarning(
                "PORTAL_SANDBOX=off and PORTAL_ACCEPT_UNSANDBOXED is not set: jobs that run "
                "bundle content are refused.",
                hint="Install bubblewrap and set PORTAL_SANDBOX=bwrap.",
                id="sandbox.W004",
            )
        )
        return found
    from migrations_ops.pg.job_sandbox import portal_server
    from migrations_ops.pg.unsandboxed import scratch_server_problems

    for problem in scratch_server_problems(settings.SCRATCH_DATABASE_URL, portal_server()):
        found.append(
            CheckWarning(
                f"PORTAL_SANDBOX=off: {problem}.",
                hint="Bundle content runs on the worker in this mode: SCRATCH_DATABASE_URL must "
                "name a dedicated server whose role can reach nothing else.",
                id="sandbox.W005",
            )
        )
    return found
