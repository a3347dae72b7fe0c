"""Links from the change log and reports to pages other parts of the portal serve.

The release and job pages are named ``release_detail`` and ``job_detail``; until they are
routed, the paths the design gives them (``/releases/<id>/``, ``/jobs/<id>/``) are used,
so a report written today still points at the right page tomorrow.
"""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse


def _page(name: str, pk: int, fallback: str) -> str:
    try:
        return reverse(name, args=[pk])
    except NoReverseMatch:
        return fallback


def release_page(pk: int) -> str:
    return _page("release_detail", pk, f"/releases/{pk}/")


def job_page(pk: int) -> str:
    return _page("job_detail", pk, f"/jobs/{pk}/")


def backup_page(pk: int) -> str:
    return _page("backup_detail", pk, f"/backups/{pk}/")


def rollback_plan_page(pk: int) -> str:
    return _page("rollback_detail", pk, f"/rollbacks/{pk}/")


def incident_page(pk: int) -> str:
    return _page("incident_detail", pk, f"/incidents/{pk}/")


def absolute(path: str, base_url: str | None) -> str:
    """``path`` under ``base_url`` (e.g. ``https://releases.example.com/``), or as is."""
    if not base_url:
        return path
    return base_url.rstrip("/") + "/" + path.lstrip("/")
