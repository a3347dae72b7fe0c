"""Which environment variables a project's targets may name, and check commands may get.

A platform lead names the variable that holds a target's URL; the worker reads it and
hands it to psql, pg_dump and the apply job. Without a rule the lead of project B could
point a target at the portal's own server (``DATABASE_URL``, ``SCRATCH_DATABASE_URL``) or
at project A's production URL variable, and B's jobs would then back up, read or write
it. The rule, for project P and variable V:

1. V is never one of the portal's own variables (``settings.PORTAL_OWN_VARIABLES``).
2. ``PORTAL_TARGET_VARS`` set (by the operator): V must be a name or pattern listed for
   P's slug, and no other project's (a variable belongs to one project).
3. Unset: any other V, unless another project's target names it. Two projects naming one
   variable both lose it: neither can be told apart as its owner. The operator settles
   it by listing the variable for one project in ``PORTAL_TARGET_VARS``.

A target whose variable the rule refuses is *disabled*: shown with its reason, refused
when a job would use it, and ``Target.database_url()`` never reads its variable.
Disabled is computed, never stored: the rule is a pure function of the settings and of
which other projects name the variable (one small query), so a changed
``PORTAL_TARGET_VARS`` takes effect at the next restart with nothing to migrate, and two
leads racing to claim a variable both end up disabled instead of one of them winning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from migrations_ops.pg.environment import is_portal_variable, matches

SETTING = "PORTAL_TARGET_VARS"


@dataclass(frozen=True)
class Refusal:
    """Why a variable may not be used: ``short`` for a badge or a menu, ``message`` to act on."""

    short: str
    message: str

    def __str__(self) -> str:
        return self.message


def allowed_patterns(project_slug: str) -> list[str] | None:
    """The names and patterns PORTAL_TARGET_VARS gives the project; None when it is unset."""
    configured: dict[str, list[str]] | None = settings.PORTAL_TARGET_VARS
    if configured is None:
        return None
    return list(configured.get(project_slug, []))


def _other_projects_listing(project_slug: str, name: str) -> bool:
    configured: dict[str, list[str]] = settings.PORTAL_TARGET_VARS or {}
    return any(
        matches(name, patterns) for slug, patterns in configured.items() if slug != project_slug
    )


def target_variable_refusal(
    *, project_slug: str, name: str, used_by_other_project: Callable[[], bool]
) -> Refusal | None:
    """Why project ``project_slug``'s targets may not name ``name``; None when they may.

    ``used_by_other_project`` answers whether another project's target names it; it is
    only asked when PORTAL_TARGET_VARS is unset.
    """
    ask = f"ask the operator to add it to {SETTING} for project {project_slug}"
    if is_portal_variable(name):
        return Refusal(
            "one of the portal's own variables",
            f"{name} is one of the portal's own variables (its database, keys, broker, mail, "
            "backups or libpq settings): no target may use it. Put the database's URL in a "
            f"variable of its own, e.g. {_suggestion(project_slug)}, and {ask}.",
        )
    patterns = allowed_patterns(project_slug)
    if patterns is not None:
        if not matches(name, patterns):
            listed = ", ".join(patterns) if patterns else "none"
            return Refusal(
                f"not allowed for this project by {SETTING}",
                f"{name} is not among the variables {SETTING} allows for project "
                f"{project_slug} ({listed}): use one of those, or {ask}.",
            )
        if _other_projects_listing(project_slug, name):
            return Refusal(
                f"allowed for another project too by {SETTING}",
                f"{name} is allowed for another project too in {SETTING}, and a variable "
                f"belongs to one project: ask the operator to list it for project "
                f"{project_slug} only.",
            )
        return None
    if used_by_other_project():
        return Refusal(
            "another project's target uses it",
            f"{name} is used by another project's target, and a variable belongs to one "
            f"project: use a variable of this project's own (e.g. "
            f"{_suggestion(project_slug)}), or {ask}.",
        )
    return None


def command_variable_refusal(*, project_slug: str, name: str, used_by_a_target: bool) -> str | None:
    """Why project ``project_slug``'s check commands may not be given ``name``; or None.

    Check commands run bundle content, which is untrusted: never the portal's own
    variables, never a database URL (any target's, this project's included: the worker
    reads targets, scripts never do), never a variable PORTAL_TARGET_VARS gives another
    project.
    """
    if is_portal_variable(name):
        return f"{name} is one of the portal's own variables: it is never given to check commands."
    if name.upper().endswith("_DATABASE_URL") or used_by_a_target:
        return (
            f"{name} holds a target's database URL: the portal reads targets itself and "
            "never gives their URLs to check commands."
        )
    if _other_projects_listing(project_slug, name):
        return (
            f"{name} belongs to another project ({SETTING} lists it for that project's "
            "targets): it is never given to this project's check commands."
        )
    return None


def suggested_variable(project_slug: str) -> str:
    """A staging variable the project could be given: ``SHOP_STAGING_DATABASE_URL``."""
    return _suggestion(project_slug)


def _suggestion(project_slug: str) -> str:
    prefix = "".join(c if c.isalnum() else "_" for c in project_slug.upper())
    if prefix[:1].isdigit():
        prefix = "_" + prefix
    return f"{prefix}_STAGING_DATABASE_URL"
