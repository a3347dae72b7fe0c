"""The dashboard and the health check."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


def dashboard(request: HttpRequest) -> HttpResponse:
    """Releases in flight, and what waits for the person looking."""
    from checklists import selectors
    from migrations_ops.environments.selectors import environments_for_user
    from release_portal.accounts.roles import Action, can

    recent = selectors.with_progress(list(selectors.releases_for_user(request.user)[:10]))
    env_projects = environments_for_user(request.user)
    return render(
        request,
        "release_portal/dashboard.html",
        {
            "recent": recent,
            "awaiting": selectors.awaiting_user(request.user),
            "env_projects": env_projects,
            # Projects whose empty environments panel links to their targets' settings.
            "manages": {
                p.pk for p, _ in env_projects if can(request.user, Action.MANAGE_PROJECT, p)
            },
        },
    )


def _broker_reachable() -> tuple[bool, str]:
    from kombu import Connection

    try:
        with Connection(
            settings.CELERY_BROKER_URL,
            transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
            connect_timeout=2,
        ) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as e:  # any transport error means "not reachable"
        return False, f"{type(e).__name__}: {e}"[:200]
    return True, ""


def _sandbox_status() -> dict[str, object]:
    from migrations_ops.pg.job_folder import SandboxConfig
    from migrations_ops.pg.sandbox_host import prerequisite_problems

    config = SandboxConfig.from_settings()
    if config.mode == "off":
        return {"ok": bool(settings.PORTAL_ACCEPT_UNSANDBOXED), "mode": "off"}
    return {"ok": not prerequisite_problems(config), "mode": "bwrap"}


@require_GET
@never_cache
@login_not_required
def healthz(request: HttpRequest) -> JsonResponse:
    """Is the database reachable, and the Celery broker? 200 when both are, else 503."""
    checks: dict[str, dict[str, object]] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = {"ok": True}
    except Exception as e:
        logger.warning("healthz: database unreachable: %s", e)
        checks["database"] = {"ok": False, "error": type(e).__name__}
    ok, error = _broker_reachable()
    checks["broker"] = {"ok": ok, "transport": settings.CELERY_BROKER_URL.split(":", 1)[0]}
    if not ok:
        logger.warning("healthz: broker unreachable: %s", error)
        checks["broker"]["error"] = error.split(":", 1)[0]
    healthy = all(c["ok"] for c in checks.values())
    # Where bundle content runs: informative, a web process never runs it.
    checks["sandbox"] = _sandbox_status()
    return JsonResponse({"ok": healthy, "checks": checks}, status=200 if healthy else 503)
