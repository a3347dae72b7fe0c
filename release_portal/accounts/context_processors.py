from types import SimpleNamespace
from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from release_portal.accounts.roles import Role, project_names, roles_by_project


def _my_projects(user: Any) -> list[dict[str, Any]]:
    """The menu's projects, by name, from the roles' own query (no query of its own)."""
    roles = roles_by_project(user)
    names = project_names(user)
    return [
        {
            "project": SimpleNamespace(pk=pk, name=name, slug=slug),
            "roles": [r.label for r in Role if r in roles[pk]],
        }
        for pk, (name, slug) in sorted(names.items(), key=lambda kv: (kv[1][0], kv[0]))
    ]


def navigation(request: HttpRequest) -> dict[str, Any]:
    """The signed-in person's projects and roles for the page shell (lazy: no query unless used)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"my_projects": SimpleLazyObject(lambda: _my_projects(user))}


# Main navigation, in order. Pages join it as they exist (a name that does not resolve
# yet is left out), so the shell never links to a page that is not there.
NAV = [
    ("Releases", "release_list"),
    ("Backups", "backup_list"),
    ("Incidents", "incident_list"),
    ("Audit log", "audit_log"),
    ("Runbooks", "runbook_list"),
]


def _nav_items(request: HttpRequest) -> list[dict[str, Any]]:
    from django.urls import NoReverseMatch, reverse

    current = getattr(getattr(request, "resolver_match", None), "url_name", None)
    items = []
    for label, name in NAV:
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        items.append({"label": label, "url": url, "current": name == current})
    return items


def nav_items(request: HttpRequest) -> dict[str, Any]:
    """The main navigation for the page shell (lazy: an htmx fragment that does not draw
    it, such as a log poll, does not reverse its URLs)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"nav_items": SimpleLazyObject(lambda: _nav_items(request))}
