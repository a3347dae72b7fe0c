"""Changes to a project's settings and targets, each audited with before and after.

Only names are recorded (paths, schema names, environment variable names): the values
of those variables never reach the portal's database or its change log. Of a webhook URL
the change log keeps the host only (its path and query are often a secret). The variables
a target may name and a check command may be given follow ``migrations_ops.target_rule``;
these services refuse anything else, whichever page or command calls them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from django.db import transaction

from migrations_ops.models import Job, Project, Target
from migrations_ops.pg import pgtools
from migrations_ops.runners.base import RunnerError, connect_target, no_url
from release_portal.audit.services import audit_record, audit_record_now
from release_portal.webhooks import outgoing

logger = logging.getLogger(__name__)

SETTINGS_FIELDS = (
    "migrations_source",
    "repo_path",
    "supabase_dir",
    "schemas",
    "fixture_files",
    "seed_files",
    "rollbacks_dir",
    "check_commands",
    "command_env_names",
    "command_timeout_seconds",
    "required_secret_names",
    "dry_run_with_data",
    "dry_run_data_max_mb",
    "sandbox_pg_major",
    "require_qa_signoff",
    "require_sre_signoff",
    "high_risk_requires_sre",
    "uploader_may_not_sign",
    "backup_max_age_hours",
    "break_glass_needs_second_lead",
    "maintenance_webhook_url",
)
# The project's name and description: no rule but the model's, changed by operators in
# Django's admin (migrations_ops/admin.py), audited like the settings.
DETAILS_FIELDS = ("name", "description")
TARGET_FIELDS = ("name", "kind", "url_env_var")
# Settings whose value the change log shows only as its host.
URL_FIELDS = frozenset({"maintenance_webhook_url"})
CONNECT_TIMEOUT = 10


class TargetError(Exception):
    """A target change that cannot be made; the message says why."""


class SettingsError(Exception):
    """A settings change that cannot be made; the message says why."""


def _check_target_variable(project: Project, variable: str) -> None:
    refusal = Target.objects.refusal_for(project=project, variable=variable)
    if refusal is not None:
        raise TargetError(refusal.message)


def _check_one_kind(project: Project, variable: str, kind: str, target: Target | None) -> None:
    """A database has one kind: production under a second name of another kind would be
    applied to without the release gate (and backed up as if it were not production)."""
    twins = project.targets.filter(url_env_var=variable).exclude(kind=kind)
    other = (twins if target is None else twins.exclude(pk=target.pk)).first()
    if other is not None:
        raise TargetError(
            f"{variable} is already the URL of the target {other.name} "
            f"({other.get_kind_display().lower()}): a database has one kind, and a "
            f"{Target.Kind(kind).label.lower()} target on it would skip what that kind asks "
            f"(the release gate, for production). Use {other.name}, or give this target a "
            "variable of its own."
        )


def _changes(obj: Any, values: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    changed = {}
    for name in fields:
        if name in values and getattr(obj, name) != values[name]:
            changed[name] = {"before": getattr(obj, name), "after": values[name]}
    return changed


@transaction.atomic
def project_settings_update(
    *, project: Project, values: dict[str, Any], user: Any, via: str = ""
) -> list[str]:
    """Save the changed settings (and name or description); returns the names of the
    fields that changed. ``via`` ("admin") is recorded with the event when given."""
    project = Project.objects.select_for_update().get(pk=project.pk)
    changed = _changes(project, values, SETTINGS_FIELDS + DETAILS_FIELDS)
    if not changed:
        return []
    if "command_env_names" in changed:
        refusals = project.command_variable_refusals(changed["command_env_names"]["after"])
        if refusals:
            raise SettingsError(" ".join(refusals))
    for name, change in changed.items():
        setattr(project, name, change["after"])
    project.save(update_fields=list(changed))
    logged = {
        name: {key: outgoing.host_of(value) for key, value in change.items()}
        if name in URL_FIELDS
        else change
        for name, change in changed.items()
    }
    audit_record(
        actor=user, action="project.settings_update", obj=project,
        data={"changed": logged} | ({"via": via} if via else {}),
    )  # fmt: skip
    return list(changed)


@transaction.atomic
def target_create(*, project: Project, name: str, kind: str, url_env_var: str, user: Any) -> Target:
    """Add a database the project deploys to, named by the variable that holds its URL.

    Refuses (TargetError) a variable the target rule does not allow the project.
    """
    _check_target_variable(project, url_env_var)
    _check_one_kind(project, url_env_var, kind, None)
    target = Target.objects.create(project=project, name=name, kind=kind, url_env_var=url_env_var)
    audit_record(
        actor=user,
        action="target.create",
        obj=target,
        project=project,
        data={"name": name, "kind": kind, "url_env_var": url_env_var},
    )
    return target


@transaction.atomic
def target_update(*, target: Target, name: str, kind: str, url_env_var: str, user: Any) -> Target:
    target = Target.objects.select_for_update().get(pk=target.pk)
    changed = _changes(
        target, {"name": name, "kind": kind, "url_env_var": url_env_var}, TARGET_FIELDS
    )
    if not changed:
        return target
    if "url_env_var" in changed:
        # A disabled target may still be renamed; a new variable must pass the rule.
        _check_target_variable(target.project, url_env_var)
    if "url_env_var" in changed or "kind" in changed:
        _check_one_kind(target.project, url_env_var, kind, target)
    for field, change in changed.items():
        setattr(target, field, change["after"])
    target.save(update_fields=list(changed))
    audit_record(
        actor=user, action="target.update", obj=target, project=target.project_id,
        data={"changed": changed},
    )  # fmt: skip
    return target


@transaction.atomic
def target_delete(*, target: Target, user: Any) -> None:
    """Remove a target no job has used (jobs keep pointing at theirs)."""
    target = Target.objects.select_for_update().get(pk=target.pk)
    if Job.objects.filter(target=target).exists():
        raise TargetError(
            f"{target.name} has jobs in its history, so it stays. Point its environment "
            "variable elsewhere, or add a new target."
        )
    audit_record(
        actor=user, action="target.delete", obj=target, project=target.project_id,
        data={"name": target.name, "kind": target.kind, "url_env_var": target.url_env_var},
    )  # fmt: skip
    target.delete()


@dataclass(frozen=True)
class ConnectionTest:
    ok: bool
    message: str
    server_version: str = ""


def _scrub(message: str, url: str) -> str:
    """Whatever libpq said, without the URL or its password."""
    parts = urlsplit(url)
    message = message.replace(url, "<url>")
    for secret in {parts.password, unquote(parts.password or "")}:
        if secret:
            message = message.replace(secret, "***")
    return message


def target_connection_test(*, target: Target, user: Any) -> ConnectionTest:
    """Connect to the target within 10 s and report the server version; changes nothing.

    The URL is read from the environment variable named on the target, in this (web)
    process's environment; neither it nor its password ever appears in the result.
    """
    refusal = target.refusal
    url = None if refusal else target.database_url()
    if refusal is not None:
        result = ConnectionTest(False, f"Not tested: {target.disabled_reason}")
    elif url is None:
        result = ConnectionTest(False, no_url(target.name, target.url_env_var) + ".")
    else:
        try:
            conn = connect_target(url, target.name, timeout=CONNECT_TIMEOUT)
        except RunnerError as e:
            result = ConnectionTest(False, _scrub(str(e), url))
        except (psycopg.Error, ValueError) as e:  # a malformed URL, before any connection
            reason = _scrub(str(e).strip().splitlines()[-1] if str(e).strip() else "", url)
            reason = reason or type(e).__name__
            result = ConnectionTest(
                False,
                f"could not connect to {target.name}: the URL in {target.url_env_var} is not "
                f"a valid PostgreSQL URL ({reason}).",
            )
        else:
            with conn:
                row = conn.execute("SHOW server_version").fetchone()
            version = str(row[0]) if row else "unknown"
            result = ConnectionTest(
                True,
                f"Connected to {target.name} ({pgtools.describe_server(url)}): "
                f"PostgreSQL {version}.",
                version,
            )
    audit_record_now(
        actor=user,
        action="target.test_connection",
        obj=target,
        project=target.project_id,
        data={"ok": result.ok, "url_env_var": target.url_env_var}
        | ({"disabled": refusal.short} if refusal else {}),
    )
    return result
